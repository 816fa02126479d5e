package main

// The subset of MinIO's admin API (/minio/admin/v3/...) that minio-py's
// MinioAdmin needs to create bucket-scoped users:
//
//	PUT  add-canned-policy?name=N             body: policy JSON
//	PUT  add-user?accessKey=K                 body: encrypted {"secretKey","status"[,"policy"]}
//	GET  user-info?accessKey=K                -> {"policyName","status","updatedAt"}
//	POST idp/builtin/policy/{attach|detach}   body: encrypted {"policies","user"|"group"}
//	                                          -> encrypted {"policiesAttached"|"policiesDetached","updatedAt"}
//
// Requests must carry a valid SigV4 header signature of the root user (users
// may only read their own user-info); bodies are encrypted with the
// requester's secret key as madmin does.

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
)

const adminPrefix = "/minio/admin/v3/"

func hasSpaceBE(s string) bool {
	return strings.TrimSpace(s) != s
}

// validAccessKey: MinIO requires 3+ characters and none of "=,"; this
// stand-in also refuses characters that cannot be part of a filer file name.
func validAccessKey(k string) bool {
	if len(k) < 3 || strings.ContainsAny(k, "=,/\\") || k == "." || k == ".." {
		return false
	}
	for _, r := range k {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

var errAdminVersionMismatch = apiError{"XMinioAdminVersionMismatch", "Server expects 'admin' API version 'v3'", http.StatusUpgradeRequired}

func (s *iamStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, adminPrefix) {
		writeErrorJSON(w, r, &errAdminVersionMismatch)
		return
	}
	if !s.ready.Load() {
		writeErrorJSON(w, r, &errServerNotInitialized)
		return
	}
	if r.ContentLength > maxEConfigJSONSize {
		writeErrorJSON(w, r, &errAdminConfigTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEConfigJSONSize+1))
	if err != nil {
		writeErrorJSON(w, r, &errBadRequest)
		return
	}
	if len(body) > maxEConfigJSONSize {
		writeErrorJSON(w, r, &errAdminConfigTooLarge)
		return
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = emptySHA256
	}
	if payloadHash != unsignedPayload && payloadHash != sha256Hex(body) {
		writeErrorJSON(w, r, &errContentSHA256Mismatch)
		return
	}
	caller, aerr := verifyV4(r, payloadHash, s.secretFor)
	if aerr != nil {
		writeErrorJSON(w, r, aerr)
		return
	}
	isRoot := caller == s.rootUser
	callerSecret, _ := s.secretFor(caller)
	q := r.URL.Query()

	op := strings.TrimPrefix(r.URL.Path, adminPrefix)
	switch {
	case op == "user-info" && r.Method == http.MethodGet:
		name := q.Get("accessKey")
		if !isRoot && name != caller { // users may read their own info
			writeErrorJSON(w, r, &errAccessDenied)
			return
		}
		s.userInfo(w, r, name)
	case !isRoot:
		writeErrorJSON(w, r, &errAccessDenied)
	case op == "add-canned-policy" && r.Method == http.MethodPut:
		s.addCannedPolicy(w, r, q.Get("name"), body)
	case op == "add-user" && r.Method == http.MethodPut:
		s.addUser(w, r, q.Get("accessKey"), body, callerSecret)
	case (op == "idp/builtin/policy/attach" || op == "idp/builtin/policy/detach") && r.Method == http.MethodPost:
		s.attachDetach(w, r, op == "idp/builtin/policy/attach", body, callerSecret)
	default:
		writeErrorJSON(w, r, &errNotImplemented)
	}
}

func (s *iamStore) addCannedPolicy(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	switch {
	case name == "":
		writeErrorJSON(w, r, &errAdminInvalidArgument)
		return
	case hasSpaceBE(name):
		writeErrorJSON(w, r, &errAdminResourceInvalidArgument)
		return
	case strings.Contains(name, ","):
		writeErrorJSON(w, r, &errPolicyInvalidName)
		return
	case len(body) == 0:
		writeErrorJSON(w, r, &errAdminInvalidArgument)
		return
	}
	if err := validatePolicy(body); err != nil {
		writeErrorJSON(w, r, errMalformedPolicy.with(err))
		return
	}
	aerr := s.mutate(func(st *iamState) *apiError {
		now := time.Now().UTC()
		if p, ok := st.Policies[name]; ok {
			p.Policy, p.UpdateDate = append(json.RawMessage(nil), body...), now
		} else {
			st.Policies[name] = &policyDoc{Policy: append(json.RawMessage(nil), body...), CreateDate: now, UpdateDate: now}
		}
		return nil
	})
	if aerr != nil {
		writeErrorJSON(w, r, aerr)
		return
	}
	requestID(w)
	w.WriteHeader(http.StatusOK)
}

type addOrUpdateUserReq struct {
	SecretKey string `json:"secretKey,omitempty"`
	Policy    string `json:"policy,omitempty"`
	Status    string `json:"status"`
}

func splitPolicies(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// decryptJSON decodes an admin request body as MinIO does (madmin-encrypted JSON); on
// failure it answers MinIO's "bad JSON" error and returns false.
func decryptJSON(w http.ResponseWriter, r *http.Request, password string, body []byte, v any) bool {
	plain, err := decryptData(password, body)
	if err == nil {
		err = json.Unmarshal(plain, v)
	}
	if err != nil {
		writeErrorJSON(w, r, &errAdminConfigBadJSON)
		return false
	}
	return true
}

func (s *iamStore) addUser(w http.ResponseWriter, r *http.Request, accessKey string, body []byte, password string) {
	if accessKey == s.rootUser {
		writeErrorJSON(w, r, &errAddUserInvalidArgument)
		return
	}
	exists := s.isUser(accessKey)
	if !exists && hasSpaceBE(accessKey) {
		writeErrorJSON(w, r, &errAdminResourceInvalidArgument)
		return
	}
	var req addOrUpdateUserReq
	if !decryptJSON(w, r, password, body, &req) {
		return
	}
	if !validAccessKey(accessKey) {
		writeErrorJSON(w, r, &errAdminInvalidAccessKey)
		return
	}
	aerr := s.mutate(func(st *iamState) *apiError {
		now := time.Now().UTC()
		u, ok := st.Users[accessKey]
		if !ok {
			u = &userEntry{}
		}
		if req.SecretKey != "" || !ok {
			if len(req.SecretKey) < 8 {
				return &errAdminInvalidSecretKey
			}
			u.SecretKey = req.SecretKey
		}
		u.Status = statusEnabled
		if req.Status == statusDisabled {
			u.Status = statusDisabled
		}
		if policies := splitPolicies(req.Policy); len(policies) > 0 {
			for _, p := range policies {
				if _, ok := s.policyLocked(p); !ok {
					return &errAdminNoSuchPolicy
				}
			}
			sort.Strings(policies)
			u.Policies, u.PolicyUpdatedAt = policies, now
		}
		u.UpdatedAt = now
		st.Users[accessKey] = u
		return nil
	})
	if aerr != nil {
		writeErrorJSON(w, r, aerr)
		return
	}
	requestID(w)
	w.WriteHeader(http.StatusOK)
}

// userInfo answers like MinIO's madmin.UserInfo (plain JSON, not encrypted).
func (s *iamStore) userInfo(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" {
		writeErrorJSON(w, r, &errAdminInvalidArgument)
		return
	}
	s.mu.RLock()
	u, ok := s.state.Users[name]
	var info struct {
		PolicyName string    `json:"policyName,omitempty"`
		Status     string    `json:"status"`
		UpdatedAt  time.Time `json:"updatedAt,omitempty"`
	}
	if ok {
		info.PolicyName = strings.Join(u.Policies, ",")
		info.Status = u.Status
		info.UpdatedAt = u.PolicyUpdatedAt
	}
	s.mu.RUnlock()
	if !ok {
		writeErrorJSON(w, r, &errAdminNoSuchUser)
		return
	}
	out, _ := json.Marshal(info)
	writeSuccessJSON(w, out)
}

type policyAssociationReq struct {
	Policies []string `json:"policies"`
	User     string   `json:"user,omitempty"`
	Group    string   `json:"group,omitempty"`
}

func (s *iamStore) attachDetach(w http.ResponseWriter, r *http.Request, attach bool, body []byte, password string) {
	// As MinIO: the body must not have been interpreted as form data.
	if r.Header.Get("Content-Type") != "application/octet-stream" {
		writeErrorJSON(w, r, &errBadRequest)
		return
	}
	var req policyAssociationReq
	if !decryptJSON(w, r, password, body, &req) {
		return
	}
	policies := map[string]bool{}
	for _, p := range req.Policies {
		if p = strings.TrimSpace(p); p != "" {
			policies[p] = true
		}
	}
	if len(policies) == 0 || (req.User == "") == (req.Group == "") {
		writeErrorJSON(w, r, &errAdminInvalidArgument)
		return
	}
	if req.Group != "" { // groups are not part of this stand-in
		writeErrorJSON(w, r, &errAdminNoSuchGroup)
		return
	}
	var changed []string
	var updatedAt time.Time
	aerr := s.mutate(func(st *iamState) *apiError {
		u, ok := st.Users[req.User]
		if !ok {
			return &errAdminNoSuchUser
		}
		current := map[string]bool{}
		for _, p := range u.Policies {
			current[p] = true
		}
		changed = nil
		for p := range policies {
			if current[p] == attach {
				continue // already attached / not attached: no net effect
			}
			if attach {
				if _, ok := s.policyLocked(p); !ok {
					return &errAdminNoSuchPolicy
				}
			}
			changed = append(changed, p)
		}
		if len(changed) == 0 {
			return &errAdminPolicyChangeAlreadyApplied
		}
		sort.Strings(changed)
		for _, p := range changed {
			current[p] = attach
		}
		u.Policies = nil
		for p, on := range current {
			if on {
				u.Policies = append(u.Policies, p)
			}
		}
		sort.Strings(u.Policies)
		updatedAt = time.Now().UTC()
		u.PolicyUpdatedAt = updatedAt
		if len(u.Policies) == 0 {
			u.PolicyUpdatedAt = time.Time{} // MinIO drops the empty mapping
		}
		return nil
	})
	if aerr != nil {
		writeErrorJSON(w, r, aerr)
		return
	}
	var resp struct {
		PoliciesAttached []string  `json:"policiesAttached,omitempty"`
		PoliciesDetached []string  `json:"policiesDetached,omitempty"`
		UpdatedAt        time.Time `json:"updatedAt"`
	}
	resp.UpdatedAt = updatedAt
	if attach {
		resp.PoliciesAttached = changed
	} else {
		resp.PoliciesDetached = changed
	}
	out, _ := json.Marshal(resp)
	enc, err := encryptData(password, out)
	if err != nil {
		writeErrorJSON(w, r, errInternalError.with(err))
		return
	}
	writeSuccessJSON(w, enc)
}

// deniesListBuckets: MinIO users created through the admin API get
// AccessDenied for ListBuckets (their policies grant bucket access only);
// SeaweedFS would answer with the buckets they may list.
func (s *iamStore) deniesListBuckets(r *http.Request) bool {
	ak := accessKeyOf(r)
	if ak == "" || ak == s.rootUser {
		return false
	}
	secret, ok := s.secretFor(ak)
	if !ok {
		return false // unknown or disabled: SeaweedFS gives the error
	}
	if r.Header.Get("Authorization") == "" {
		return true // presigned: no need to check the signature to refuse
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = emptySHA256
	}
	_, aerr := verifyV4(r, payloadHash, func(k string) (string, bool) { return secret, k == ak })
	return aerr == nil // a bad signature gets SeaweedFS' SignatureDoesNotMatch
}
