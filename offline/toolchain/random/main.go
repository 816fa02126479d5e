// pulumi-resource-random, rebuilt here because the Go module proxy does not
// serve github.com/pulumi/pulumi-random/provider: a thin Terraform bridge over
// the upstream terraform-provider-random (which the proxy does serve).
// Resource tokens follow pulumi-random's scheme (random_password ->
// random:index/randomPassword:RandomPassword) so the pulumi-random Python SDK
// talks to it unchanged. The Pulumi schema is generated in-process at start-up.
package main

import (
	"context"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func providerInfo() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:                           pftfbridge.ShimProvider(shim.NewProvider()),
		Name:                        "random",
		Version:                     version,
		Description:                 "Random values (local rebuild of pulumi-random)",
		License:                     "Apache-2.0",
		MetadataInfo:                tfbridge.NewProviderMetadata(nil),
		EnableAccurateBridgePreview: true,
	}
	makeToken := func(module, name string) (string, error) {
		return tokens.MakeStandard("random")(module, "Random"+name)
	}
	info.MustComputeTokens(tokens.SingleModule("random_", "index", makeToken))
	return info
}

func main() {
	ctx := context.Background()
	info := providerInfo()
	gen, err := pftfgen.GenerateSchema(ctx, pftfgen.GenerateSchemaOptions{
		ProviderInfo: info, XInMemoryDocs: true, DiagnosticsSink: quietSink(),
	})
	if err != nil {
		cmdutil.ExitError("generating schema: " + err.Error())
	}
	pftfbridge.Main(ctx, "random", info, gen.ProviderMetadata)
}
