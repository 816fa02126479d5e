package main

// The IAM state behind the admin API subset (canned policies, users, their
// policy mappings), persisted under the data directory, and its translation
// into SeaweedFS identities.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
// the resulting identities to SeaweedFS before returning, so a change is in
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
	desired := s.desiredIdentitiesLocked()
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
	desired := s.desiredIdentitiesLocked()
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

// wildcardMatch matches s against a pattern with '*' and '?' (case-insensitive,
// like IAM action names).
func wildcardMatch(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	var match func(p, s string) bool
	match = func(p, s string) bool {
		for len(p) > 0 {
			switch p[0] {
			case '*':
				for i := 0; i <= len(s); i++ {
					if match(p[1:], s[i:]) {
						return true
					}
				}
				return false
			case '?':
				if len(s) == 0 {
					return false
				}
			default:
				if len(s) == 0 || p[0] != s[0] {
					return false
				}
			}
			p, s = p[1:], s[1:]
		}
		return len(s) == 0
	}
	return match(pattern, s)
}

// SeaweedFS' legacy action classes and the S3 actions that need them, split
// by the resource level they apply to (bucket ARN vs object ARN).
var (
	bucketLevelActions = map[string][]string{
		"List":    {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"},
		"Tagging": {"s3:GetBucketTagging", "s3:PutBucketTagging"},
	}
	objectLevelActions = map[string][]string{
		"Read":    {"s3:GetObject", "s3:GetObjectVersion", "s3:ListMultipartUploadParts"},
		"Write":   {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"},
		"Tagging": {"s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"},
	}
)

func classesFor(patterns []string, table map[string][]string) []string {
	var out []string
	for class, actions := range table {
	next:
		for _, a := range actions {
			for _, p := range patterns {
				if wildcardMatch(p, a) {
					out = append(out, class)
					break next
				}
			}
		}
	}
	return out
}

// resourceTargets maps an S3 ARN to the SeaweedFS action suffixes it grants
// at bucket level ("b", "b*") and at object level ("b" for b/*, or a
// "b/prefix/*" pattern).
func resourceTargets(res string) (bucketTarget, objectTarget string) {
	r := res
	if res != "*" {
		var ok bool
		if r, ok = strings.CutPrefix(res, "arn:aws:s3:::"); !ok || r == "" {
			return "", ""
		}
	}
	bucket, object, hasObject := strings.Cut(r, "/")
	if !hasObject {
		bucketTarget = r
		if strings.ContainsAny(r, "*?") { // "*" or "b*" also covers the objects
			objectTarget = r
		}
		return bucketTarget, objectTarget
	}
	if object == "*" {
		return "", bucket
	}
	return "", r
}

// grantsOf lists the SeaweedFS actions ("List:b", "Read:b", ...) that the
// statements of the given effect grant.
func grantsOf(stmts []policyStatement, effect string) map[string]bool {
	out := map[string]bool{}
	for _, st := range stmts {
		// Conditions and Not* elements cannot be expressed with SeaweedFS
		// actions: such statements grant nothing here.
		if st.Effect != effect || len(st.Condition) > 0 || len(st.NotAction) > 0 || len(st.NotResource) > 0 {
			continue
		}
		actions, _ := stringOrList(st.Action)
		resources, _ := stringOrList(st.Resource)
		bucketClasses := classesFor(actions, bucketLevelActions)
		objectClasses := classesFor(actions, objectLevelActions)
		for _, res := range resources {
			bt, ot := resourceTargets(res)
			if bt != "" {
				for _, c := range bucketClasses {
					out[c+":"+bt] = true
				}
			}
			if ot != "" {
				for _, c := range objectClasses {
					out[c+":"+ot] = true
				}
			}
		}
	}
	return out
}

// userActions is the SeaweedFS action list for a user's attached policies:
// allowed grants minus identical denied ones.
func (s *iamStore) userActionsLocked(u *userEntry) []string {
	allow, deny := map[string]bool{}, map[string]bool{}
	for _, name := range u.Policies {
		raw, ok := s.policyLocked(name)
		if !ok {
			continue // MinIO ignores mapped policies that no longer exist
		}
		stmts, err := parseStatements(raw)
		if err != nil {
			continue
		}
		for g := range grantsOf(stmts, "Allow") {
			allow[g] = true
		}
		for g := range grantsOf(stmts, "Deny") {
			deny[g] = true
		}
	}
	var out []string
	for g := range allow {
		if !deny[g] {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// desiredIdentitiesLocked renders every user as a SeaweedFS identity file.
func (s *iamStore) desiredIdentitiesLocked() map[string][]byte {
	out := map[string][]byte{}
	for name, u := range s.state.Users {
		out[name] = identityJSON(name, u.SecretKey, s.userActionsLocked(u), u.Status == statusDisabled)
	}
	return out
}
