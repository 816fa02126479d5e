package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
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

// mlops_clients.s3.bucket_policy(["b"]): read and add objects, never delete.
const bucketPolicy = `{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket","s3:ListBucketMultipartUploads"],"Resource":["arn:aws:s3:::b"]},
  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":["arn:aws:s3:::b/*"]}
]}`

func storeWith(t *testing.T, policies map[string]string, users map[string][]string) *iamStore {
	t.Helper()
	s := &iamStore{state: iamState{Policies: map[string]*policyDoc{}, Users: map[string]*userEntry{}}}
	for name, p := range policies {
		if err := validatePolicy([]byte(p)); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		s.state.Policies[name] = &policyDoc{Policy: json.RawMessage(p)}
	}
	for name, attached := range users {
		s.state.Users[name] = &userEntry{SecretKey: "secret-" + name, Status: statusEnabled, Policies: attached}
	}
	return s
}

func TestUserPolicy(t *testing.T) {
	extra := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::logs/app/*"},
	  {"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::x/*"]},
	  {"Effect":"Deny","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::x/*"]},
	  {"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::c"],"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
	  {"Effect":"Allow","NotAction":["s3:DeleteObject"],"Resource":["arn:aws:s3:::d/*"]},
	  {"Effect":"Allow","Action":["admin:*","iam:CreateUser","*"],"Resource":["arn:aws:iam:::user/x","*"]},
	  {"Effect":"Allow","Action":["kms:*"],"Resource":["*"]},
	  {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:iam:::user/y"]}
	]}`
	s := storeWith(t, map[string]string{"p": bucketPolicy, "q": extra}, nil)
	// q twice (mapped and re-listed) and bucket_policy's statements once each.
	got := s.userPolicyLocked(&userEntry{Policies: []string{"p", "q", "readonly", "missing", "p"}})
	want := &swPolicy{Version: "2012-10-17", Statement: []swStatement{
		{"Allow", []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, []string{"arn:aws:s3:::b"}},
		{"Allow", []string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, []string{"arn:aws:s3:::b/*"}},
		{"Allow", []string{"s3:GetObject"}, []string{"arn:aws:s3:::logs/app/*"}},
		{"Allow", []string{"s3:PutObject"}, []string{"arn:aws:s3:::x/*"}},
		{"Deny", []string{"s3:PutObject"}, []string{"arn:aws:s3:::x/*"}},
		{"Allow", []string{"s3:*"}, []string{"arn:aws:s3:::*"}},
		{"Allow", []string{"s3:GetBucketLocation", "s3:GetObject"}, []string{"arn:aws:s3:::*"}},
	}}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("got %s", g)
	}
	if p := s.userPolicyLocked(&userEntry{Policies: []string{"missing"}}); p != nil {
		t.Fatalf("no usable statement, got %+v", p)
	}
}

// A policy with s3:PutObject but without s3:DeleteObject must give an
// identity that can put but not delete: no legacy actions (SeaweedFS gates
// PutObject, DeleteObject and DeleteObjects all on "Write"), and an attached
// policy naming no delete action.
func TestPutWithoutDeleteGivesNoDelete(t *testing.T) {
	withDelete := strings.Replace(bucketPolicy, `"s3:PutObject",`, `"s3:PutObject","s3:DeleteObject",`, 1)
	s := storeWith(t, map[string]string{"dvc-buckets": bucketPolicy, "rw": withDelete},
		map[string][]string{"dvc": {"dvc-buckets"}, "rw": {"rw"}, "none": nil})
	files := s.desiredFilesLocked()
	if len(files) != 5 {
		t.Fatalf("files: %v", slices.Sorted(maps.Keys(files)))
	}

	actions := func(user string) []string {
		var id map[string]any
		if err := json.Unmarshal(files[identitiesDir+"/"+user+".json"], &id); err != nil {
			t.Fatal(err)
		}
		if _, ok := id["actions"]; ok {
			t.Fatalf("%s: legacy actions in %v", user, id)
		}
		names, _ := id["policy_names"].([]any)
		if len(names) != 1 || names[0] != swPolicyName(user) {
			t.Fatalf("%s: policy_names %v", user, id["policy_names"])
		}
		var p swPolicy
		if err := json.Unmarshal(files[policiesDir+"/"+swPolicyName(user)+".json"], &p); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range p.Statement {
			if st.Effect == "Allow" {
				out = append(out, st.Action...)
			}
		}
		return out
	}
	dvc := actions("dvc")
	if !slices.Contains(dvc, "s3:PutObject") {
		t.Fatalf("dvc cannot put: %v", dvc)
	}
	for _, a := range dvc {
		if strings.Contains(strings.ToLower(a), "delete") || strings.Contains(a, "*") {
			t.Fatalf("dvc may delete through %q", a)
		}
	}
	if rw := actions("rw"); !slices.Contains(rw, "s3:DeleteObject") {
		t.Fatalf("rw lost s3:DeleteObject: %v", rw)
	}

	var none map[string]any
	if err := json.Unmarshal(files[identitiesDir+"/none.json"], &none); err != nil {
		t.Fatal(err)
	}
	if _, ok := none["policy_names"]; ok {
		t.Fatalf("a user without policies names one: %v", none)
	}
}

func TestPolicyNames(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]+$`) // SeaweedFS' credential.PolicyNamePattern
	seen := map[string]string{}
	for _, user := range []string{"dvc", "dvc.a", "dvc@a", "dvc_a", "Ünïcode-user", strings.Repeat("x", 128)} {
		name := swPolicyName(user)
		if !valid.MatchString(name) {
			t.Fatalf("%q -> invalid SeaweedFS policy name %q", user, name)
		}
		if other, ok := seen[name]; ok {
			t.Fatalf("%q and %q share policy %q", user, other, name)
		}
		seen[name] = user
	}
	if swPolicyName("dvc") != swPolicyName("dvc") {
		t.Fatal("policy names are not stable")
	}
}

// A fake filer and S3 gateway: apply writes policies before the identities
// naming them, then the sync identity, and rewrites only what changed.
func TestApplyOrderAndDiff(t *testing.T) {
	var writes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			return // the gateway accepts the sync identity's key
		}
		if r.Method != http.MethodPost || r.URL.Query().Get("saveInside") != "true" {
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, header, err := r.FormFile("file")
		if err != nil {
			t.Error(err)
			return
		}
		writes = append(writes, r.URL.Path+header.Filename)
	}))
	defer srv.Close()
	b := &seaweedIAM{filerURL: srv.URL, s3URL: srv.URL, client: srv.Client(), written: map[string]string{}}

	s := storeWith(t, map[string]string{"dvc-buckets": bucketPolicy}, map[string][]string{"dvc": {"dvc-buckets"}, "bare": nil})
	if err := b.apply(s.desiredFilesLocked(), false); err != nil {
		t.Fatal(err)
	}
	policy := policiesDir + "/" + swPolicyName("dvc") + ".json"
	want := []string{policy, identitiesDir + "/bare.json", identitiesDir + "/dvc.json", identitiesDir + "/" + syncIdentity + ".json"}
	if !reflect.DeepEqual(writes, want) {
		t.Fatalf("writes %v, want %v", writes, want)
	}

	writes = nil
	if err := b.apply(s.desiredFilesLocked(), false); err != nil || writes != nil {
		t.Fatalf("unchanged state rewrote %v (%v)", writes, err)
	}
	s.state.Policies["dvc-buckets"].Policy = json.RawMessage(strings.Replace(bucketPolicy, `"s3:PutObject",`, "", 1))
	if err := b.apply(s.desiredFilesLocked(), false); err != nil {
		t.Fatal(err)
	}
	if want := []string{policy, identitiesDir + "/" + syncIdentity + ".json"}; !reflect.DeepEqual(writes, want) {
		t.Fatalf("a policy change wrote %v, want %v", writes, want)
	}
}
