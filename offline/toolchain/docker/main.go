// pulumi-resource-docker, rebuilt here because the Go module proxy does not
// serve github.com/pulumi/pulumi-docker/provider: a Terraform bridge over the
// upstream kreuzwerker/terraform-provider-docker (which the proxy does serve).
// The resource tokens and renamed fields follow pulumi-docker 5.x, so the
// pulumi-docker Python SDK talks to it unchanged. Not included: pulumi-docker's
// own (non-Terraform) docker.Image resource; use RemoteImage/RegistryImage or
// build images outside Pulumi. The Pulumi schema is generated in-process.
package main

import (
	"encoding/json"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func res(name string) *tfbridge.ResourceInfo {
	return &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource("docker", "index", name)}
}

func dataSource(name string) *tfbridge.DataSourceInfo {
	return &tfbridge.DataSourceInfo{Tok: tfbridge.MakeDataSource("docker", "index", name)}
}

func providerInfo() tfbridge.ProviderInfo {
	container := res("Container")
	container.DeleteBeforeReplace = true
	container.Fields = map[string]*tfbridge.SchemaInfo{
		"command":           {Name: "command"}, // one command, not a plural
		"networks_advanced": {Name: "networksAdvanced"},
	}
	remoteImage := res("RemoteImage")
	remoteImage.Fields = map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}}

	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(version)),
		Name:         "docker",
		Version:      version,
		Description:  "Docker (local rebuild of pulumi-docker's bridged resources)",
		License:      "Apache-2.0",
		GitHubOrg:    "kreuzwerker",
		MetadataInfo: tfbridge.NewProviderMetadata(nil),
		Config: map[string]*tfbridge.SchemaInfo{
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config":         res("ServiceConfig"),
			"docker_container":      container,
			"docker_image":          remoteImage,
			"docker_network":        res("Network"),
			"docker_secret":         res("Secret"),
			"docker_service":        res("Service"),
			"docker_volume":         res("Volume"),
			"docker_registry_image": res("RegistryImage"),
			"docker_plugin":         res("Plugin"),
			"docker_tag":            res("Tag"),
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_network":        dataSource("getNetwork"),
			"docker_registry_image": dataSource("getRegistryImage"),
			"docker_plugin":         dataSource("getPlugin"),
			"docker_image":          dataSource("getRemoteImage"),
			"docker_logs":           dataSource("getLogs"),
		},
	}
	// Anything newer upstream (not in the 5.1.0 SDK) gets a standard token.
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	return info
}

func main() {
	info := providerInfo()
	gen, err := tfgen.GenerateSchemaWithOptions(tfgen.GenerateSchemaOptions{
		ProviderInfo: info, XInMemoryDocs: true, DiagnosticsSink: quietSink(),
	})
	if err != nil {
		cmdutil.ExitError("generating schema: " + err.Error())
	}
	schema, err := json.Marshal(gen.PackageSpec)
	if err != nil {
		cmdutil.ExitError("encoding schema: " + err.Error())
	}
	tfbridge.Main("docker", version, info, schema)
}
