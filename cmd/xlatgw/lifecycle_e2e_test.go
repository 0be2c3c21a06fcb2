package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/v6xlat/xlat/internal/netnstest"
)

// Fault items 9, 6 and 12: a gateway whose TUN device or one of whose AF_XDP
// interfaces is deleted under it has lost its datapath. It used to exit
// with status 0 and no word (TUN), or stay up flooding its log with
// failed sends while health said ok (AF_XDP); it must exit with a
// failure that says why, once, so that Restart=on-failure brings it back.
func TestFaultDeviceGone(t *testing.T) {
	netnstest.Need(t)
	bin := netnstest.Build(t, ".")
	for _, tc := range []struct {
		name, del, want string
		xdp             bool
	}{
		{"TUN device deleted", "link del xlat0", "the TUN device xlat0 is gone", false},
		{"AF_XDP interface deleted", "link del g1", "interface", true},
		// Fault item 12: the first loop's error returned while the AF_XDP
		// loops still ran over a UMEM the deferred close unmapped.
		{"TUN device deleted under AF_XDP", "link del xlat0", "the TUN device xlat0 is gone", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.xdp {
				needXDP(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			prefix := "dg"
			config := strings.Replace(matrixConfig, "19481", "19483", 1)
			if tc.xdp {
				prefix = "dx"
				config = withAFXDP(config, "g0", "g1")
			}
			cfg := filepath.Join(t.TempDir(), "xlatgw.json")
			os.WriteFile(cfg, []byte(config), 0o644)
			c, g, s := netnstest.Gateway3(t, prefix)
			if tc.xdp {
				noChecksumOffload(t, c, "c0")
				noChecksumOffload(t, s, "s0")
			}
			var logs netnstest.Log
			d, _ := runXlatgw(t, ctx, g, bin, cfg, &logs)
			exited := make(chan error, 1)
			go func() { exited <- d.Wait() }()
			// Traffic flowing when the device goes.
			p := netnstest.Helper(ctx, c, "probe", "64:ff9b::192.0.2.80")
			p.Env = append(p.Env, "XLAT_PROBES=20", "XLAT_PROBE_GAP=50")
			p.Start()
			time.Sleep(300 * time.Millisecond)
			netnstest.IP(t, g, tc.del)
			var err error
			select {
			case err = <-exited:
			case <-time.After(10 * time.Second):
				d.Process.Signal(syscall.SIGTERM)
				<-exited
				t.Fatalf("xlatgw still running 10 s after %q; it said:\n%s", tc.del, logs.String())
			}
			p.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Errorf("xlatgw exited with %v after %q; want a failure status", err, tc.del)
			}
			out := logs.String()
			t.Logf("%s: %v; xlatgw said:\n%s", tc.del, err, out)
			if !strings.Contains(out, tc.want) {
				t.Errorf("xlatgw's log does not say %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "SIGSEGV") || strings.Contains(out, "fault address") {
				t.Errorf("xlatgw crashed on its way out:\n%s", out)
			}
			if n := strings.Count(out, "\n"); n > 50 {
				t.Errorf("xlatgw logged %d lines about it; want a few:\n%.2000s", n, out)
			}
		})
	}
}
