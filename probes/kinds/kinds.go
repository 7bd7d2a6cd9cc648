// Package kinds links every step kind into the binary. Adding a kind is its
// own package plus one import line here.
package kinds

import (
	_ "github.com/authprobe/authprobe/probes/browserstep" // browser
	_ "github.com/authprobe/authprobe/probes/httpstep"    // http
	_ "github.com/authprobe/authprobe/probes/jwtstep"     // jwt
	_ "github.com/authprobe/authprobe/probes/oauth2step"  // oauth2, introspect, userinfo, revoke
)
