package main

// Pushing identities and their policies to SeaweedFS. The S3 gateway of
// `weed mini` keeps its identities in the filer under
// /etc/iam/identities/<name>.json (one iam_pb.Identity per file) and its IAM
// policies under /etc/iam/policies/<name>.json, content stored inline in the
// filer entry, and follows both directories through the filer's metadata
// subscription: every change schedules a full reload of the IAM state. The
// reload is asynchronous, so after writing, this front writes a "sync"
// identity with a fresh random key as the last file and waits until the
// gateway accepts that key: from then on every earlier write is in force.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

const (
	identitiesDir = "/etc/iam/identities"
	policiesDir   = "/etc/iam/policies"
	// MinIO access keys cannot contain ',' so no user can collide with this name.
	syncIdentity = "minio-shim,sync"
	syncTimeout  = 30 * time.Second
)

type swCredential struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// swIdentity never carries legacy actions: what a user may do is up to the
// SeaweedFS policies it names (none: nothing but authenticate).
type swIdentity struct {
	Name        string         `json:"name"`
	Credentials []swCredential `json:"credentials"`
	PolicyNames []string       `json:"policy_names,omitempty"`
	Disabled    bool           `json:"disabled,omitempty"`
}

func identityJSON(name, secret string, policyNames []string, disabled bool) []byte {
	b, _ := json.MarshalIndent(swIdentity{
		Name:        name,
		Credentials: []swCredential{{AccessKey: name, SecretKey: secret}},
		PolicyNames: policyNames,
		Disabled:    disabled,
	}, "", "  ")
	return b
}

type seaweedIAM struct {
	filerURL, s3URL string
	client          *http.Client
	written         map[string]string // filer path -> content last written
}

func newSeaweedIAM(filerPort, s3Port int) *seaweedIAM {
	return &seaweedIAM{
		filerURL: fmt.Sprintf("http://127.0.0.1:%d", filerPort),
		s3URL:    fmt.Sprintf("http://127.0.0.1:%d", s3Port),
		client:   &http.Client{Timeout: 10 * time.Second},
		written:  map[string]string{},
	}
}

// writeFile stores one IAM file with its content inline in the filer entry
// (?saveInside=true), which is where the IAM store reads it.
func (b *seaweedIAM) writeFile(filePath string, content []byte) error {
	dir, name := path.Split(filePath)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", name)
	if err != nil {
		return err
	}
	if _, err := part.Write(content); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, b.filerURL+dir+"?saveInside=true", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("filer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("filer: writing %s: %s %s", filePath, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// apply writes the files (filer path -> content) that changed since the last
// write (all with force), policies before the identities that name them, and
// waits until the S3 gateway has loaded them.
func (b *seaweedIAM) apply(desired map[string][]byte, force bool) error {
	paths := slices.Sorted(maps.Keys(desired))
	slices.SortStableFunc(paths, func(x, y string) int {
		return strings.Compare(path.Dir(y), path.Dir(x)) // "policies" before "identities"
	})
	changed := false
	for _, p := range paths {
		content := desired[p]
		if !force && b.written[p] == string(content) {
			continue
		}
		if err := b.writeFile(p, content); err != nil {
			return err
		}
		b.written[p] = string(content)
		changed = true
	}
	if !changed {
		return nil
	}
	return b.waitLoaded()
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// waitLoaded writes the sync identity (no policy: it can do nothing but
// authenticate) with a new key and polls the gateway until it accepts it.
func (b *seaweedIAM) waitLoaded() error {
	ak, sk := "SHIMSYNC"+strings.ToUpper(randomHex(8)), randomHex(20)
	// The file name is fixed; the identity inside is named after its key.
	if err := b.writeFile(identitiesDir+"/"+syncIdentity+".json", identityJSON(ak, sk, nil, false)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	u, _ := url.Parse(b.s3URL + "/")
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		signV4(req, ak, sk, "us-east-1", emptySHA256)
		resp, err := b.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("SeaweedFS S3 gateway did not load the identity changes within %s", syncTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
