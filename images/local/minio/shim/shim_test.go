package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// Produced by minio-py 7.2.20 crypto.encrypt with fixed random bytes
// (nonce 00..07, salt 0x64..0x83).
const minioPyVector = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182830000010203040506072a943a6b704b780a68429842cc28b719bb01c6aac299dbdffe71f5cac5343a92d34aa640092bf2ab78fdfcac95c1968d8084d3f09a273da635cb0a179106de"

func TestDecryptMinioPyVector(t *testing.T) {
	ct, _ := hex.DecodeString(minioPyVector)
	got, err := decryptData("minioadmin", ct)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"status":"enabled","secretKey":"s3cr3t-value"}`; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := decryptData("wrong-password", ct); err == nil {
		t.Fatal("decrypted with the wrong password")
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, sioBufSize, sioBufSize + 1, 3*sioBufSize + 7} {
		plain := bytes.Repeat([]byte{'x'}, n)
		ct, err := encryptData("pw-12345678", plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decryptData("pw-12345678", ct)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip failed: %v", n, err)
		}
	}
}

// The "GET Object" example of the AWS SigV4 documentation.
func TestSigV4AWSExample(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	req.Host = "examplebucket.s3.amazonaws.com"
	req.Header.Set("Range", "bytes=0-9")
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	req.Header.Set("X-Amz-Date", "20130524T000000Z")
	canon, ok := canonicalRequest(req, []string{"host", "range", "x-amz-content-sha256", "x-amz-date"}, emptySHA256)
	if !ok {
		t.Fatal("missing signed header")
	}
	got := v4Signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3", "20130524T000000Z", canon)
	if want := "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestSignThenVerify(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/minio/admin/v3/add-user?accessKey=a%20b~c", nil)
	signV4(req, "root", "root-secret", "us-east-1", emptySHA256)
	lookup := func(k string) (string, bool) { return "root-secret", k == "root" }
	if ak, err := verifyV4(req, emptySHA256, lookup); err != nil || ak != "root" {
		t.Fatalf("verify: %v %v", ak, err)
	}
	bad := func(k string) (string, bool) { return "other", k == "root" }
	if _, err := verifyV4(req, emptySHA256, bad); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestGrants(t *testing.T) {
	// mlops_clients.s3.bucket_policy(["b"])
	policy := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket","s3:ListBucketMultipartUploads"],"Resource":["arn:aws:s3:::b"]},
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":["arn:aws:s3:::b/*"]},
	  {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::logs/app/*"]},
	  {"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::x/*"]},
	  {"Effect":"Deny","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::x/*"]},
	  {"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::c"],"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}
	]}`
	if err := validatePolicy([]byte(policy)); err != nil {
		t.Fatal(err)
	}
	s := &iamStore{state: iamState{Policies: map[string]*policyDoc{"p": {Policy: json.RawMessage(policy)}}}}
	got := s.userActionsLocked(&userEntry{Policies: []string{"p", "readonly", "missing"}})
	want := []string{"List:b", "Read:*", "Read:b", "Read:logs/app/*", "Write:b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
