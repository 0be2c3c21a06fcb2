// Command xlatgw is a userspace SIIT/NAT64 gateway on a TUN device: any
// number of siit and nat64 instances (the xlat packages), chosen per packet
// by the configuration's rules, translating in batches.
//
//	xlatgw check-config FILE
//	xlatgw run -config FILE
//	xlatgw show stats|sessions|bib|eamt|handoff|sync [-json] [-socket PATH]...
//	xlatgw health [-json] [-socket PATH]...
//	xlatgw import-jool [-type siit|nat64] JOOL.json...
//	xlatgw translate -config FILE -in IN.pcap -out OUT.pcap
//
// The configuration is JSON, read strictly (an unknown field is an error):
//
//	{
//	  "tun": {"name": "xlat", "mtu": 1500, "ipv4-address": "198.51.100.1", "ipv6-address": "2001:db8::1"},
//	  "instances": [
//	    {"name": "nat64-a", "type": "nat64", "nat64": {"pool6": "64:ff9b::/96",
//	      "pool4": [{"protocol": "TCP", "prefix": "203.0.113.0/28"}, {"protocol": "UDP", "prefix": "203.0.113.0/28"},
//	                {"protocol": "ICMP", "prefix": "203.0.113.0/28"}]}},
//	    {"name": "dc", "type": "siit", "siit": {"pool6": "2001:db8:46::/96",
//	      "eamt": [{"ipv4": "203.0.113.80/32", "ipv6": "2001:db8:aaaa::80/128"}]}}
//	  ],
//	  "rules": [{"prefix": "0.0.0.0/1", "instance": "nat64-a"}]
//	}
//
// Instance settings use the packages' (Jool's) option names. The gateway
// creates the TUN device, routes each instance's prefixes (pool6, pool4,
// EAMT IPv4 prefixes) into it and turns forwarding on, unless
// "manage-routes" is false.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/v6xlat/xlat/internal/jool"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "xlatgw:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: xlatgw check-config FILE | xlatgw run -config FILE | xlatgw show stats|sessions|bib|eamt|handoff|sync [-json] [-socket PATH]... | xlatgw health [-json] [-socket PATH]... | xlatgw import-jool [-type siit|nat64] JOOL.json... | xlatgw translate -config FILE -in IN.pcap -out OUT.pcap")
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "check-config":
		if len(args) != 2 {
			return usage()
		}
		l, err := loadConfig(args[1])
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d instances, %d rules: ok\n", args[1], len(l.cfg.Instances), len(l.cfg.Rules))
		return nil
	case "translate":
		return translateFile(args[1:], os.Stderr)
	case "show":
		return show(args[1:], os.Stdout)
	case "health":
		return healthCmd(args[1:], os.Stdout)
	case "import-jool":
		return jool.Command(args[1:], os.Stdout, os.Stderr)
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		path := fs.String("config", "", "configuration file (required)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *path == "" {
			return fmt.Errorf("run: -config is required")
		}
		l, err := loadConfig(*path)
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, l, *path, log)
	}
	return usage()
}
