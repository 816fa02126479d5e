// Package shim exposes the upstream provider constructor, which lives in an
// internal package: only a package under the upstream import path may import it.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

func NewProvider() tfpf.Provider { return provider.New() }
