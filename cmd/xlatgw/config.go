package main

import (
	"os"

	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/internal/strictjson"
)

// config is xlatgw's configuration file: the gateway's, and where the
// binary serves its metrics and admin API.
type config struct {
	gateway.Config
	// Metrics is the address to serve Prometheus metrics on (off when
	// empty), Admin the unix socket of the read-only admin API that
	// "xlatgw show" talks to (off when empty).
	Metrics string `json:"metrics,omitempty"`
	Admin   string `json:"admin,omitempty"`
}

// loaded is a configuration file read and its gateway built.
type loaded struct {
	cfg   config
	setup *gateway.Setup
}

func loadConfig(path string) (*loaded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(data)
}

// parseConfig reads the file strictly (an unknown field is an error) and
// builds the gateway it describes; errors name the field.
func parseConfig(data []byte) (*loaded, error) {
	var c config
	if err := strictjson.Decode(data, &c, "config"); err != nil {
		return nil, err
	}
	s, err := gateway.Build(c.Config)
	if err != nil {
		return nil, err
	}
	return &loaded{cfg: c, setup: s}, nil
}
