package main

import (
	"io"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
)

// quietSink drops the schema generator's warnings (missing docs etc.): they
// are meant for provider authors, and stdout must stay free for the plugin
// handshake.
func quietSink() diag.Sink {
	return diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
}
