// pulumi-resource-command, rebuilt here because the Go module proxy does not
// serve github.com/pulumi/pulumi-command/provider. A small provider written
// against the Pulumi Go SDK that implements what pulumi-command's Python SDK
// calls for local commands:
//   - command:local:Command  (create / update / delete commands, triggers,
//     environment, dir, interpreter, stdin, addPreviousOutputInEnv;
//     outputs stdout and stderr)
//   - command:local:run      (invoke)
//
// Not implemented: command:remote:* (SSH), assetPaths/archivePaths.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

const commandType = "command:local:Command"

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(version)
		return
	}
	err := provider.Main("command", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &server{}, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

var opts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// Secrets are stripped before they reach us; the engine marks the outputs
	// of secret inputs secret again.
	return &pulumirpc.ConfigureResponse{SupportsPreview: true}, nil
}

func checkType(t string) error {
	if t != commandType {
		return status.Errorf(codes.Unimplemented, "%s is not supported by this local build of pulumi-command", t)
	}
	return nil
}

func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), opts)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
		if v, ok := news[k]; ok && !v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: string(k), Reason: "not supported by this local build"})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// Diff: a change to triggers replaces the resource; any other input change
// is an in-place update (which runs `update`, or `create` when unset).
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := plugin.UnmarshalProperties(req.GetOldInputs(), opts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), opts)
	if err != nil {
		return nil, err
	}
	diff := olds.Diff(news)
	if diff == nil {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	var changed, replaces []string
	for _, k := range diff.ChangedKeys() {
		changed = append(changed, string(k))
		if k == "triggers" {
			replaces = append(replaces, string(k))
		}
	}
	sort.Strings(changed)
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: changed, Replaces: replaces}, nil
}

func str(m resource.PropertyMap, k resource.PropertyKey) string {
	if v, ok := m[k]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// run executes cmd through the interpreter (default /bin/sh -c), like pulumi-command.
func run(ctx context.Context, cmd string, in resource.PropertyMap, extraEnv []string) (string, string, error) {
	interp := []string{"/bin/sh", "-c"}
	if v, ok := in["interpreter"]; ok && v.IsArray() && len(v.ArrayValue()) > 0 {
		interp = nil
		for _, e := range v.ArrayValue() {
			interp = append(interp, e.StringValue())
		}
	}
	args := append(append([]string{}, interp[1:]...), cmd)
	c := exec.CommandContext(ctx, interp[0], args...)
	c.Dir = str(in, "dir")
	c.Env = os.Environ()
	if v, ok := in["environment"]; ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			c.Env = append(c.Env, string(k)+"="+e.StringValue())
		}
	}
	c.Env = append(c.Env, extraEnv...)
	if stdin := str(in, "stdin"); stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	o := strings.TrimSuffix(stdout.String(), "\n")
	e := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return o, e, fmt.Errorf("command %q failed: %w: stdout: %s; stderr: %s", cmd, err, o, e)
	}
	return o, e, nil
}

func previousOutputEnv(in, state resource.PropertyMap) []string {
	if v, ok := in["addPreviousOutputInEnv"]; ok && v.IsBool() && !v.BoolValue() {
		return nil
	}
	return []string{"PULUMI_COMMAND_STDOUT=" + str(state, "stdout"), "PULUMI_COMMAND_STDERR=" + str(state, "stderr")}
}

// execute runs cmd (if any) and returns inputs + stdout/stderr as outputs.
func execute(ctx context.Context, in resource.PropertyMap, cmd string, env []string, preview bool) (*structpb.Struct, error) {
	out := in.Copy()
	if preview {
		out["stdout"] = resource.MakeComputed(resource.NewProperty(""))
		out["stderr"] = resource.MakeComputed(resource.NewProperty(""))
	} else if cmd != "" {
		o, e, err := run(ctx, cmd, in, env)
		if err != nil {
			return nil, err
		}
		out["stdout"], out["stderr"] = resource.NewProperty(o), resource.NewProperty(e)
	} else {
		out["stdout"], out["stderr"] = resource.NewProperty(""), resource.NewProperty("")
	}
	return plugin.MarshalProperties(out, opts)
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	in, err := plugin.UnmarshalProperties(req.GetProperties(), opts)
	if err != nil {
		return nil, err
	}
	props, err := execute(ctx, in, str(in, "create"), nil, req.GetPreview())
	if err != nil {
		return nil, err
	}
	id := "preview"
	if !req.GetPreview() {
		if id, err = resource.NewUniqueHex("cmd-", 8, 0); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := plugin.UnmarshalProperties(req.GetNews(), opts)
	if err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), opts)
	if err != nil {
		return nil, err
	}
	cmd := str(news, "update")
	if cmd == "" {
		cmd = str(news, "create")
	}
	props, err := execute(ctx, news, cmd, previousOutputEnv(news, olds), req.GetPreview())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := plugin.UnmarshalProperties(req.GetProperties(), opts)
	if err != nil {
		return nil, err
	}
	if cmd := str(state, "delete"); cmd != "" {
		if _, _, err := run(ctx, cmd, state, previousOutputEnv(state, state)); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *server) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != "command:local:run" {
		return nil, status.Errorf(codes.Unimplemented, "%s is not supported by this local build of pulumi-command", req.GetTok())
	}
	in, err := plugin.UnmarshalProperties(req.GetArgs(), opts)
	if err != nil {
		return nil, err
	}
	props, err := execute(ctx, in, str(in, "command"), nil, false)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: props}, nil
}
