// Package shim exposes the upstream provider constructor, which lives in an
// internal package: only a package under the upstream import path may import it.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

func NewProvider(version string) *schema.Provider { return provider.New(version)() }
