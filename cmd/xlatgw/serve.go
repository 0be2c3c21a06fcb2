package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/v6xlat/xlat/internal/gateway"
	"github.com/v6xlat/xlat/internal/loopwatch"
	"github.com/v6xlat/xlat/internal/pcapxlat"
	"github.com/v6xlat/xlat/internal/sdnotify"
)

// serve runs the gateway of l until ctx ends: the datapath (the gateway
// package's), then the metrics and the admin API on it, SIGHUP reloads
// of the file at path, and the service manager's readiness and watchdog.
func serve(ctx context.Context, l *loaded, path string, log *slog.Logger) error {
	g, err := gateway.Open(l.setup, log)
	if err != nil {
		return err
	}
	defer g.Close()
	if l.cfg.Metrics != "" {
		ml, err := serveMetrics(g, l.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer ml.Close()
	}
	if l.cfg.Admin != "" {
		al, err := serveAdmin(g, l.cfg.Admin)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer al.Close()
	}
	c := l.setup.Config()
	log.Info("translating", "tun", c.TUN.Name, "instances", len(c.Instances), "metrics", l.cfg.Metrics, "admin", l.cfg.Admin)
	sd := sdnotify.FromEnv()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		sd.Stopping()
	}()
	go onHangup(ctx, func() error {
		next, err := loadConfig(path)
		if err != nil {
			return err
		}
		if err := g.Reload(next.setup); err != nil {
			return err
		}
		log.Info("reloaded", "instances", len(next.cfg.Instances), "rules", len(next.cfg.Rules))
		return nil
	}, log)
	return g.Serve(ctx, func() {
		// Up: the device, its routes, the programs and every loop.
		if err := sd.Ready(fmt.Sprintf("translating: %d instances, %d queues", len(c.Instances), g.QueueCount())); err != nil {
			log.Warn("telling systemd we are ready", "err", err)
		}
		go loopwatch.Watchdog(ctx, sd, g.DatapathAge, log)
	})
}

// onHangup runs reload on every SIGHUP until ctx ends; a refused reload
// is logged and the running configuration stays, whole.
func onHangup(ctx context.Context, reload func() error, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	loopwatch.Reloads(ctx, hup, reload, log)
}

// translateFile is "xlatgw translate -config FILE -in IN.pcap -out
// OUT.pcap": the capture goes through the same instances as the gateway
// would send it through, offline and without root (see pcapxlat).
func translateFile(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (required)")
	inPath := fs.String("in", "", "input pcap (required)")
	outPath := fs.String("out", "", "output pcap (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || *inPath == "" || *outPath == "" {
		return errors.New("translate: -config, -in and -out are required")
	}
	l, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	in, err := os.Open(*inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(*outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	c, err := pcapxlat.Translate(in, out, l.setup, log)
	if err != nil {
		return fmt.Errorf("%s: %w", *inPath, err)
	}
	fmt.Fprintf(log, "%d packets read, %d written, %d dropped\n", c.Read, c.Written, c.Dropped)
	return nil
}
