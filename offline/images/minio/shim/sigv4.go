package main

// AWS Signature Version 4 (header form, service "s3"): verification of the
// requests sent to the admin API, and signing of the front's own requests to
// the SeaweedFS gateway.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm    = "AWS4-HMAC-SHA256"
	amzDateFormat     = "20060102T150405Z"
	emptySHA256       = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedPayload   = "UNSIGNED-PAYLOAD"
	maxRequestTimeGap = 15 * time.Minute // MinIO's globalMaxSkewTime
)

// v4Auth is a parsed "Authorization: AWS4-HMAC-SHA256 ..." header.
type v4Auth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseV4Auth returns nil, ErrAccessDenied-like errors for anything that is
// not a well-formed V4 header (MinIO answers unsigned or V2-signed admin
// requests with AccessDenied).
func parseV4Auth(h string) (*v4Auth, *apiError) {
	rest, ok := strings.CutPrefix(h, sigV4Algorithm)
	if !ok {
		return nil, &errAccessDenied
	}
	a := &v4Auth{}
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return nil, &errMissingFields
		}
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) < 5 || parts[len(parts)-1] != "aws4_request" {
				return nil, &errCredMalformed
			}
			n := len(parts)
			// the access key itself may contain "/"
			a.accessKey = strings.Join(parts[:n-4], "/")
			a.date, a.region, a.service = parts[n-4], parts[n-3], parts[n-2]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return nil, &errMissingFields
	}
	return a, nil
}

// accessKeyOf returns the access key a request claims (header or presigned
// query form), or "" for anonymous requests.
func accessKeyOf(r *http.Request) string {
	if a, err := parseV4Auth(r.Header.Get("Authorization")); err == nil {
		return a.accessKey
	}
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		parts := strings.Split(c, "/")
		if len(parts) >= 5 {
			return strings.Join(parts[:len(parts)-4], "/")
		}
	}
	return ""
}

// awsEscape percent-encodes everything but RFC 3986 unreserved characters
// (and "/" when keepSlash), as SigV4 canonicalisation requires.
func awsEscape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "X-Amz-Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k, false)+"="+awsEscape(v, false))
		}
	}
	return strings.Join(parts, "&")
}

func headerValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		return r.Host, r.Host != ""
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v, true
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10), true
		}
		return "", false
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		trimmed[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(trimmed, ","), true
}

func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) (string, bool) {
	var hdrs strings.Builder
	for _, h := range signedHeaders {
		v, ok := headerValue(r, h)
		if !ok {
			return "", false
		}
		hdrs.WriteString(h + ":" + v + "\n")
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	return strings.Join([]string{
		r.Method,
		awsEscape(path, true),
		canonicalQuery(r.URL.Query()),
		hdrs.String(),
		strings.Join(signedHeaders, ";"),
		payloadHash,
	}, "\n"), true
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func v4Signature(secret, date, region, service, amzDate, canonReq string) string {
	scope := date + "/" + region + "/" + service + "/aws4_request"
	toSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonReq))
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

// verifyV4 checks a header-signed request against the secret lookup returns
// for its access key. payloadHash is the x-amz-content-sha256 value to use.
// It returns the access key on success.
func verifyV4(r *http.Request, payloadHash string, lookup func(accessKey string) (string, bool)) (string, *apiError) {
	a, aerr := parseV4Auth(r.Header.Get("Authorization"))
	if aerr != nil {
		return "", aerr
	}
	if a.service != "s3" {
		return "", &errInvalidService
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		if t, err = http.ParseTime(r.Header.Get("Date")); err != nil {
			return "", &errMissingDateHeader
		}
		amzDate = t.UTC().Format(amzDateFormat)
	}
	if d := time.Since(t); d > maxRequestTimeGap || d < -maxRequestTimeGap {
		return "", &errRequestTimeTooSkewed
	}
	if !strings.HasPrefix(amzDate, a.date) {
		return "", &errCredMalformed
	}
	secret, ok := lookup(a.accessKey)
	if !ok {
		return "", &errInvalidAccessKeyID
	}
	canon, ok := canonicalRequest(r, a.signedHeaders, payloadHash)
	if !ok {
		return "", &errSignatureDoesNotMatch
	}
	want := v4Signature(secret, a.date, a.region, a.service, amzDate, canon)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return "", &errSignatureDoesNotMatch
	}
	return a.accessKey, nil
}

// signV4 signs req (whose body hash is payloadHash) in place.
func signV4(req *http.Request, accessKey, secret, region, payloadHash string) {
	now := time.Now().UTC()
	amzDate := now.Format(amzDateFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	signed := []string{"host", "x-amz-content-sha256", "x-amz-date"}
	canon, _ := canonicalRequest(req, signed, payloadHash)
	date := now.Format("20060102")
	sig := v4Signature(secret, date, region, "s3", amzDate, canon)
	req.Header.Set("Authorization", sigV4Algorithm+" Credential="+accessKey+"/"+date+"/"+region+"/s3/aws4_request, SignedHeaders="+
		strings.Join(signed, ";")+", Signature="+sig)
}
