// minio: a MinIO-compatible front for SeaweedFS ("weed mini").
//
// The MinIO Go module cannot be fetched here (the module proxy refuses it), so
// this image runs SeaweedFS and translates MinIO's interface onto it:
//
//	minio server /data [--address :9000] [--console-address :9001]
//	MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (and *_FILE)  -> S3 admin identity
//	:9000 S3 API, /minio/health/{live,ready,cluster}, /minio/v2/metrics/*
//	:9000 /minio/admin/v3/{add-canned-policy,add-user,user-info,
//	      idp/builtin/policy/attach|detach}             -> served here (admin.go),
//	                   state in DIR/.minio-shim/iam.json, enforced through
//	                   SeaweedFS identities (iam.go, seaweed.go)
//	:9001 console                                       -> SeaweedFS admin UI
//	mc ready <alias>  (when called as "mc")             -> readiness check, for
//	                   the official compose file's health check; no other mc commands
//
// SeaweedFS itself listens on loopback only; this process reverse-proxies the
// two public ports to it (the Host header is kept, so SigV4 signatures verify),
// forwards SIGTERM/SIGINT and exits with weed's exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Loopback ports used by weed inside the container (not published).
const (
	s3Port      = 8333
	filerPort   = 8888
	adminPort   = 12535
	metricsPort = 9327
	version     = "RELEASE.2025-09-07T16-13-09Z (mlops-local: SeaweedFS backend)"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "minio: "+format+"\n", a...)
	os.Exit(1)
}

// env reads NAME, or the file named by NAME_FILE (relative names are looked
// up in /run/secrets, like MinIO's Docker secrets support).
func env(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if f := os.Getenv(name + "_FILE"); f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join("/run/secrets", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			die("cannot read %s_FILE: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	return ""
}

func credentials() (string, string) {
	user, pass := env("MINIO_ROOT_USER"), env("MINIO_ROOT_PASSWORD")
	if user == "" && pass == "" { // deprecated names still accepted by MinIO
		user, pass = env("MINIO_ACCESS_KEY"), env("MINIO_SECRET_KEY")
	}
	if user == "" && pass == "" {
		user, pass = "minioadmin", "minioadmin"
	}
	if len(user) < 3 {
		die("MINIO_ROOT_USER must be at least 3 characters")
	}
	if len(pass) < 8 {
		die("MINIO_ROOT_PASSWORD must be at least 8 characters")
	}
	return user, pass
}

// listenAddr turns ":9001", "0.0.0.0:9001" or "9001" into a listen address.
func listenAddr(a string) string {
	if !strings.Contains(a, ":") {
		return ":" + a
	}
	return a
}

func proxy(port int, mapPath func(string) string) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // keep the client's Host: SigV4 signs it
			if mapPath != nil {
				r.Out.URL.Path = mapPath(r.In.URL.Path)
				r.Out.URL.RawPath = ""
			}
		},
		FlushInterval: -1, // stream bodies (large objects, event streams)
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "backend not ready: "+err.Error(), http.StatusServiceUnavailable)
		},
	}
}

// backendHealthy asks the SeaweedFS S3 gateway whether it can serve requests.
func backendHealthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", s3Port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func serve(addr string, h http.Handler) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			die("listen %s: %v", addr, err)
		}
	}()
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: minio server DIR [--address :9000] [--console-address :9001]")
	os.Exit(1)
}

// mcMain implements only `mc ready ALIAS`: exit 0 when the local server is ready.
func mcMain(args []string) {
	if len(args) < 2 || args[0] != "ready" {
		die("this image's mc only supports `mc ready local` (use an S3 client for buckets)")
	}
	addr := env("MINIO_ADDRESS")
	if addr == "" {
		addr = ":9000"
	}
	_, port, err := net.SplitHostPort(listenAddr(addr))
	if err != nil {
		die("bad MINIO_ADDRESS %q", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/minio/health/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "mc: %s is not ready\n", args[1])
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Printf("The cluster '%s' is ready\n", args[1])
}

func main() {
	if filepath.Base(os.Args[0]) == "mc" {
		mcMain(os.Args[1:])
		return
	}
	args := os.Args[1:]
	if len(args) == 0 {
		usage()
	}
	switch args[0] {
	case "--version", "-v", "version":
		fmt.Println("minio version " + version)
		return
	case "server":
	default:
		usage()
	}

	address, console := env("MINIO_ADDRESS"), env("MINIO_CONSOLE_ADDRESS")
	if address == "" {
		address = ":9000"
	}
	if console == "" {
		console = ":9001" // MinIO picks a random port; a fixed one is friendlier
	}
	var dirs []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		// accept --flag value and --flag=value
		name, val, hasVal := strings.Cut(a, "=")
		takeVal := func() string {
			if hasVal {
				return val
			}
			if i+1 >= len(rest) {
				die("%s needs a value", name)
			}
			i++
			return rest[i]
		}
		switch name {
		case "--address":
			address = takeVal()
		case "--console-address":
			console = takeVal()
		case "--quiet", "--anonymous", "--json":
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(os.Stderr, "minio: ignoring unsupported flag %s\n", a)
				continue
			}
			dirs = append(dirs, a)
		}
	}
	if len(dirs) == 0 {
		dirs = strings.Fields(env("MINIO_VOLUMES"))
	}
	if len(dirs) != 1 {
		die("exactly one data directory is supported (single-node); got %q", dirs)
	}
	if err := os.MkdirAll(dirs[0], 0o755); err != nil {
		die("data dir: %v", err)
	}
	user, pass := credentials()
	iam, err := newIAMStore(dirs[0], user, pass, newSeaweedIAM(filerPort, s3Port))
	if err != nil {
		die("IAM state: %v", err)
	}

	weed := exec.Command("weed", "mini",
		"-dir="+dirs[0],
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", // only this front is reachable
		fmt.Sprintf("-s3.port=%d", s3Port),
		fmt.Sprintf("-filer.port=%d", filerPort),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-webdav=false",
		"-master.telemetry=false", // no internet; do not try to phone home
		fmt.Sprintf("-metricsPort=%d", metricsPort), "-metricsIp=127.0.0.1",
		fmt.Sprintf("-admin.port=%d", adminPort), "-admin.port.legacy=0",
		"-admin.user="+user, "-admin.password="+pass,
	)
	// SeaweedFS turns these into a static admin identity for the S3 API.
	weed.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+user, "AWS_SECRET_ACCESS_KEY="+pass)
	weed.Stdout, weed.Stderr = os.Stdout, os.Stderr
	if err := weed.Start(); err != nil {
		die("start weed: %v", err)
	}

	s3 := proxy(s3Port, nil)
	metrics := proxy(metricsPort, func(string) string { return "/metrics" })
	api := http.NewServeMux()
	health := func(needIAM bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if (!needIAM || iam.ready.Load()) && backendHealthy(r.Context()) {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	api.HandleFunc("/minio/health/live", health(false))
	api.HandleFunc("/minio/health/ready", health(true))
	api.HandleFunc("/minio/health/cluster", health(true))
	api.HandleFunc("/minio/health/cluster/read", health(true))
	api.Handle("/minio/v2/metrics/", metrics)
	api.Handle("/minio/admin/", iam)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" && iam.deniesListBuckets(r) {
			writeErrorXML(w, r, &errAccessDenied)
			return
		}
		s3.ServeHTTP(w, r)
	})
	serve(listenAddr(address), api)
	serve(listenAddr(console), proxy(adminPort, nil))
	fmt.Printf("minio (SeaweedFS backend): S3 API %s, console %s, data %s\n", address, console, dirs[0])

	// Push the persisted users to SeaweedFS, then let the admin API and the
	// readiness checks answer.
	go func() {
		for !backendHealthy(context.Background()) {
			time.Sleep(500 * time.Millisecond)
		}
		for {
			err := iam.reconcile()
			if err == nil {
				break
			}
			fmt.Fprintf(os.Stderr, "minio: loading IAM state into SeaweedFS: %v (retrying)\n", err)
			time.Sleep(2 * time.Second)
		}
		iam.ready.Store(true)
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- weed.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = weed.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				os.Exit(ee.ExitCode())
			}
			if err != nil {
				die("weed: %v", err)
			}
			os.Exit(0)
		}
	}
}
