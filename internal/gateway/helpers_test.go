package gateway

import (
	"io"
	"log/slog"
	"os"

	"github.com/v6xlat/xlat/internal/strictjson"
)

// parseConfig builds the gateway configuration in data, JSON as
// xlatgw's file holds it.
func parseConfig(data []byte) (*Setup, error) {
	var c Config
	if err := strictjson.Decode(data, &c, "config"); err != nil {
		return nil, err
	}
	return Build(c)
}

// loadConfig is parseConfig of the file at path.
func loadConfig(path string) (*Setup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(data)
}

// quietGateway is a gateway of s without a device: the datapath alone,
// logging nowhere.
func quietGateway(s *Setup) *Gateway {
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	g.cur.Store(s)
	g.attach(s)
	return g
}
