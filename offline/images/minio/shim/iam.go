package main

// The IAM state behind the admin API subset (canned policies, users, their
// policy mappings), persisted under the data directory, and its translation
// into SeaweedFS identities and IAM policies.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	statusEnabled  = "enabled"
	statusDisabled = "disabled"
	stateVersion   = 1
)

type policyDoc struct {
	Policy     json.RawMessage `json:"policy"`
	CreateDate time.Time       `json:"createDate"`
	UpdateDate time.Time       `json:"updateDate"`
}

type userEntry struct {
	SecretKey string    `json:"secretKey"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Policies is the user's policy mapping (MinIO keeps it sorted).
	Policies        []string  `json:"policies,omitempty"`
	PolicyUpdatedAt time.Time `json:"policyUpdatedAt,omitempty"`
}

type iamState struct {
	Version  int                   `json:"version"`
	Policies map[string]*policyDoc `json:"policies"`
	Users    map[string]*userEntry `json:"users"`
}

// MinIO's built-in canned policies that can be attached without being added
// (an added policy of the same name takes precedence, as in MinIO).
var defaultPolicies = map[string]json.RawMessage{
	"readwrite": json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`),
	"readonly":  json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetObject"],"Resource":["arn:aws:s3:::*"]}]}`),
	"writeonly": json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::*"]}]}`),
}

type iamStore struct {
	path                 string // state file
	rootUser, rootSecret string
	backend              *seaweedIAM

	opMu  sync.Mutex   // serialises mutations and their sync to SeaweedFS
	mu    sync.RWMutex // guards state
	state iamState
	ready atomic.Bool // state loaded and pushed to SeaweedFS
}

func newIAMStore(dataDir, rootUser, rootSecret string, backend *seaweedIAM) (*iamStore, error) {
	s := &iamStore{
		path:     filepath.Join(dataDir, ".minio-shim", "iam.json"),
		rootUser: rootUser, rootSecret: rootSecret,
		backend: backend,
		state:   iamState{Version: stateVersion, Policies: map[string]*policyDoc{}, Users: map[string]*userEntry{}},
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s.state); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	if s.state.Policies == nil {
		s.state.Policies = map[string]*policyDoc{}
	}
	if s.state.Users == nil {
		s.state.Users = map[string]*userEntry{}
	}
	return s, nil
}

// save writes the state atomically (it holds secrets: mode 0600).
func (s *iamStore) save() error {
	b, err := json.MarshalIndent(&s.state, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// mutate runs fn on the state under the locks, persists the result and pushes
// the resulting identities and policies to SeaweedFS before returning, so a change is in
// force for the S3 API when the admin call answers (as in MinIO). A failing fn
// or save leaves the state untouched.
func (s *iamStore) mutate(fn func(st *iamState) *apiError) *apiError {
	s.opMu.Lock()
	defer s.opMu.Unlock()

	s.mu.Lock()
	snapshot, _ := json.Marshal(&s.state)
	restore := func() {
		var st iamState
		_ = json.Unmarshal(snapshot, &st)
		s.state = st
	}
	if aerr := fn(&s.state); aerr != nil {
		restore()
		s.mu.Unlock()
		return aerr
	}
	if err := s.save(); err != nil {
		restore()
		s.mu.Unlock()
		return errInternalError.with(err)
	}
	desired := s.desiredFilesLocked()
	s.mu.Unlock()

	if err := s.backend.apply(desired, false); err != nil {
		return errInternalError.with(err)
	}
	return nil
}

// reconcile pushes the whole persisted state to SeaweedFS (at start-up).
func (s *iamStore) reconcile() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.RLock()
	desired := s.desiredFilesLocked()
	s.mu.RUnlock()
	if len(desired) == 0 {
		return nil
	}
	return s.backend.apply(desired, true)
}

func (s *iamStore) policyLocked(name string) (json.RawMessage, bool) {
	if p, ok := s.state.Policies[name]; ok {
		return p.Policy, true
	}
	p, ok := defaultPolicies[name]
	return p, ok
}

// secretFor returns the secret key of an enabled account (root or user).
func (s *iamStore) secretFor(accessKey string) (string, bool) {
	if accessKey == s.rootUser {
		return s.rootSecret, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.state.Users[accessKey]
	if !ok || u.Status == statusDisabled {
		return "", false
	}
	return u.SecretKey, true
}

func (s *iamStore) isUser(accessKey string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.state.Users[accessKey]
	return ok
}

// ---------------------------------------------------------------- policies

type policyStatement struct {
	Effect      string
	Action      json.RawMessage
	NotAction   json.RawMessage
	Resource    json.RawMessage
	NotResource json.RawMessage
	Condition   json.RawMessage
}

type policyDocument struct {
	Version   string
	ID        string `json:"Id,omitempty"`
	Statement json.RawMessage
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	return many, nil
}

func parseStatements(raw json.RawMessage) ([]policyStatement, error) {
	var doc policyDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var stmts []policyStatement
	if err := json.Unmarshal(doc.Statement, &stmts); err != nil {
		var one policyStatement
		if err2 := json.Unmarshal(doc.Statement, &one); err2 != nil {
			return nil, fmt.Errorf("invalid Statement: %w", err)
		}
		stmts = []policyStatement{one}
	}
	return stmts, nil
}

// validatePolicy is a light version of MinIO's policy.ParseConfig.
func validatePolicy(raw []byte) error {
	var doc policyDocument
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if doc.Version != "2012-10-17" && doc.Version != "2008-10-17" {
		return fmt.Errorf("invalid version '%s'", doc.Version)
	}
	stmts, err := parseStatements(raw)
	if err != nil {
		return err
	}
	if len(stmts) == 0 {
		return errors.New("policy has no statements")
	}
	for i, st := range stmts {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return fmt.Errorf("statement %d: invalid Effect '%s'", i, st.Effect)
		}
		actions, err := stringOrList(st.Action)
		if err != nil {
			return fmt.Errorf("statement %d: invalid Action: %w", i, err)
		}
		notActions, err := stringOrList(st.NotAction)
		if err != nil {
			return fmt.Errorf("statement %d: invalid NotAction: %w", i, err)
		}
		if len(actions) == 0 && len(notActions) == 0 {
			return fmt.Errorf("statement %d: Action must not be empty", i)
		}
		resources, err := stringOrList(st.Resource)
		if err != nil {
			return fmt.Errorf("statement %d: invalid Resource: %w", i, err)
		}
		notResources, err := stringOrList(st.NotResource)
		if err != nil {
			return fmt.Errorf("statement %d: invalid NotResource: %w", i, err)
		}
		for _, a := range append(actions, notActions...) {
			if a != "*" && !strings.Contains(a, ":") {
				return fmt.Errorf("statement %d: invalid action '%s'", i, a)
			}
		}
		for _, res := range append(resources, notResources...) {
			if res != "*" && !strings.HasPrefix(res, "arn:") {
				return fmt.Errorf("statement %d: invalid resource '%s'", i, res)
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------- SeaweedFS policies

// SeaweedFS' legacy identity actions ("Read", "Write", "List", ...) are too
// coarse for MinIO policies: its router gates PutObject, DeleteObject and
// DeleteObjects alike on "Write", so no action list can put without deleting.
// Each user therefore becomes an identity without legacy actions that has one
// SeaweedFS IAM policy attached (policy_names): the usable statements of its
// MinIO policies, which SeaweedFS evaluates per request against the specific
// S3 action (s3:PutObject, s3:DeleteObject, ...), explicit Deny winning.

type swStatement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

type swPolicy struct {
	Version   string        `json:"Version"`
	Statement []swStatement `json:"Statement"`
}

// s3Actions keeps the S3 actions of a statement ("*" meaning all of S3):
// MinIO policies speak for the S3 API only, and SeaweedFS serves its own IAM
// and STS APIs (iam:*, sts:*) on the same port.
func s3Actions(actions []string) []string {
	var out []string
	for _, a := range actions {
		switch {
		case a == "*":
			out = append(out, "s3:*")
		case len(a) > len("s3:") && strings.EqualFold(a[:len("s3:")], "s3:"):
			out = append(out, a)
		}
	}
	return out
}

// s3Resources keeps the S3 resources of a statement ("*" meaning all of S3).
func s3Resources(resources []string) []string {
	var out []string
	for _, r := range resources {
		switch {
		case r == "*":
			out = append(out, "arn:aws:s3:::*")
		case len(r) > len("arn:aws:s3:::") && strings.HasPrefix(r, "arn:aws:s3:::"):
			out = append(out, r)
		}
	}
	return out
}

// userPolicyLocked merges the usable statements of a user's policies into one
// SeaweedFS policy (nil if none is left). Statements with a Condition,
// NotAction or NotResource are left out: an Allow among them grants nothing,
// a Deny among them denies nothing.
func (s *iamStore) userPolicyLocked(u *userEntry) *swPolicy {
	var out []swStatement
	seen := map[string]bool{}
	for _, name := range u.Policies {
		raw, ok := s.policyLocked(name)
		if !ok {
			continue // MinIO ignores mapped policies that no longer exist
		}
		stmts, err := parseStatements(raw)
		if err != nil {
			continue
		}
		for _, st := range stmts {
			if (st.Effect != "Allow" && st.Effect != "Deny") ||
				len(st.Condition) > 0 || len(st.NotAction) > 0 || len(st.NotResource) > 0 {
				continue
			}
			actions, _ := stringOrList(st.Action)
			resources, _ := stringOrList(st.Resource)
			sw := swStatement{Effect: st.Effect, Action: s3Actions(actions), Resource: s3Resources(resources)}
			if len(sw.Action) == 0 || len(sw.Resource) == 0 {
				continue
			}
			key, _ := json.Marshal(sw)
			if !seen[string(key)] {
				seen[string(key)] = true
				out = append(out, sw)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &swPolicy{Version: "2012-10-17", Statement: out}
}

// swPolicyName names a user's SeaweedFS policy. SeaweedFS policy names are
// [A-Za-z0-9_-]+ while MinIO access keys may also hold '.', '@', ...: other
// characters become '_', and a hash of the key keeps such names apart.
func swPolicyName(user string) string {
	var b strings.Builder
	for _, r := range user {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(user))
	return "minio-user-" + b.String() + "-" + hex.EncodeToString(sum[:8])
}

// desiredFilesLocked renders every user as SeaweedFS IAM files, keyed by
// their filer path: its policy (when it has usable statements) and its
// identity, which names that policy.
func (s *iamStore) desiredFilesLocked() map[string][]byte {
	out := map[string][]byte{}
	for name, u := range s.state.Users {
		var policies []string
		if p := s.userPolicyLocked(u); p != nil {
			policy := swPolicyName(name)
			b, _ := json.MarshalIndent(p, "", "  ")
			out[policiesDir+"/"+policy+".json"] = b
			policies = []string{policy}
		}
		out[identitiesDir+"/"+name+".json"] = identityJSON(name, u.SecretKey, policies, u.Status == statusDisabled)
	}
	return out
}
