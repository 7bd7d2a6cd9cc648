package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
)

// TLS holds the TLS settings of a step's requests.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of CA certificates to trust instead of the system's; relative to the config file."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the server's certificate. Certificate problems will not be detected."`

	config *tls.Config
}

// Check loads the CA file, so a missing or empty one is a load error.
func (t *TLS) Check(c *Check) {
	cfg := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		path := t.CAFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(c.Dir(), path)
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			c.Errorf("ca_file", "cannot be read: %v", errors.Unwrap(err))
			return
		}
		c.Depend(pem)
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			c.Errorf("ca_file", "%s holds no PEM certificate", path)
			return
		}
		cfg.RootCAs = pool
	}
	t.config = cfg
}

// Config returns the TLS configuration; nil (the system's defaults) when
// there are no settings. The same pointer is returned every time, so a run
// keeps one transport per TLS configuration.
func (t *TLS) Config() *tls.Config {
	if t == nil {
		return nil
	}
	return t.config
}
