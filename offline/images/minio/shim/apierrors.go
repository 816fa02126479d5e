package main

// MinIO's error codes for the admin API subset this front serves, and its two
// error shapes: JSON for /minio/admin/*, XML for the S3 API.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"time"
)

type apiError struct {
	Code        string
	Description string
	Status      int
}

// maxEConfigJSONSize is MinIO's limit on admin request bodies.
const maxEConfigJSONSize = 262272

var (
	errAccessDenied          = apiError{"AccessDenied", "Access Denied.", http.StatusForbidden}
	errMissingFields         = apiError{"MissingFields", "Missing fields in request.", http.StatusBadRequest}
	errCredMalformed         = apiError{"AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", http.StatusBadRequest}
	errInvalidService        = apiError{"AuthorizationParametersError", "Error parsing the Credential/X-Amz-Credential parameter; incorrect service. This endpoint belongs to \"s3\".", http.StatusBadRequest}
	errMissingDateHeader     = apiError{"AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", http.StatusBadRequest}
	errRequestTimeTooSkewed  = apiError{"RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.", http.StatusForbidden}
	errInvalidAccessKeyID    = apiError{"InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.", http.StatusForbidden}
	errSignatureDoesNotMatch = apiError{"SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", http.StatusForbidden}
	errContentSHA256Mismatch = apiError{"XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", http.StatusBadRequest}
	errBadRequest            = apiError{"BadRequest", "400 BadRequest", http.StatusBadRequest}
	errServerNotInitialized  = apiError{"XMinioServerNotInitialized", "Server not initialized yet, please try again.", http.StatusServiceUnavailable}
	errNotImplemented        = apiError{"NotImplemented", "A header you provided implies functionality that is not implemented", http.StatusNotImplemented}
	errInternalError         = apiError{"InternalError", "We encountered an internal error, please try again.", http.StatusInternalServerError}

	errAdminNoSuchUser                 = apiError{"XMinioAdminNoSuchUser", "The specified user does not exist.", http.StatusNotFound}
	errAdminNoSuchGroup                = apiError{"XMinioAdminNoSuchGroup", "The specified group does not exist.", http.StatusNotFound}
	errAdminNoSuchPolicy               = apiError{"XMinioAdminNoSuchPolicy", "The canned policy does not exist.", http.StatusNotFound}
	errAdminPolicyChangeAlreadyApplied = apiError{"XMinioAdminPolicyChangeAlreadyApplied", "The specified policy change is already in effect.", http.StatusBadRequest}
	errAdminConfigTooLarge             = apiError{"XMinioAdminConfigTooLarge", fmt.Sprintf("Configuration data provided exceeds the allowed maximum of %d bytes", maxEConfigJSONSize), http.StatusBadRequest}
	errAdminConfigBadJSON              = apiError{"XMinioAdminConfigBadJSON", "JSON configuration provided is of incorrect format", http.StatusBadRequest}
	errAdminInvalidArgument            = apiError{"XMinioAdminInvalidArgument", "Invalid arguments specified.", http.StatusBadRequest}
	errAdminInvalidAccessKey           = apiError{"XMinioAdminInvalidAccessKey", "The access key is invalid.", http.StatusBadRequest}
	errAdminInvalidSecretKey           = apiError{"XMinioAdminInvalidSecretKey", "The secret key is invalid.", http.StatusBadRequest}
	errAddUserInvalidArgument          = apiError{"XMinioInvalidIAMCredentials", "Credential is not allowed to be same as admin access key", http.StatusForbidden}
	errAdminResourceInvalidArgument    = apiError{"XMinioInvalidResource", "Policy, user or group names are not allowed to begin or end with space characters", http.StatusBadRequest}
	errPolicyInvalidName               = apiError{"XMinioPolicyInvalidName", "Policy name may not contain comma", http.StatusBadRequest}
	errMalformedPolicy                 = apiError{"MalformedPolicy", "Policy has invalid resource.", http.StatusBadRequest}
)

func (e apiError) with(cause error) *apiError {
	e.Description = fmt.Sprintf("%s (%v)", e.Description, cause)
	return &e
}

// hostID stands in for MinIO's deployment-derived HostId.
var hostID = func() string {
	h, _ := os.Hostname()
	s := sha256.Sum256([]byte("mlops-local-minio:" + h))
	return hex.EncodeToString(s[:])
}()

func requestID(w http.ResponseWriter) string {
	id := w.Header().Get("X-Amz-Request-Id")
	if id == "" {
		id = fmt.Sprintf("%X", time.Now().UnixNano())
		w.Header().Set("X-Amz-Request-Id", id)
	}
	return id
}

// writeErrorJSON writes MinIO's APIErrorResponse as JSON (admin API).
func writeErrorJSON(w http.ResponseWriter, r *http.Request, e *apiError) {
	body := struct {
		Code      string
		Message   string
		Resource  string
		RequestID string `json:"RequestId"`
		HostID    string `json:"HostId"`
	}{e.Code, e.Description, r.URL.Path, requestID(w), hostID}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf.Bytes())
}

// writeErrorXML writes MinIO's APIErrorResponse as XML (S3 API).
func writeErrorXML(w http.ResponseWriter, r *http.Request, e *apiError) {
	body := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Resource  string
		RequestID string `xml:"RequestId"`
		HostID    string `xml:"HostId"`
	}{Code: e.Code, Message: e.Description, Resource: r.URL.Path, RequestID: requestID(w), HostID: hostID}
	out, _ := xml.Marshal(body)
	out = append([]byte(xml.Header), out...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(out)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(out)
}

func writeSuccessJSON(w http.ResponseWriter, body []byte) {
	requestID(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
