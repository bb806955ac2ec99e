package test

import (
	"context"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock"
)

// TestRebootKeepsPorts: a reboot, in place or fresh, keeps the container's
// published port; the server started after it is reached again through
// 127.0.0.1 on the host (traffic only to loopback and the test's container).
func TestRebootKeepsPorts(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Ports: map[int]int{18097: 80}})
	startHTTPD(t, c)
	if body, err := httpGet("http://127.0.0.1:18097/"); err != nil || !strings.Contains(body, page) {
		t.Fatalf("before reboot: %q %v", body, err)
	}
	for _, fresh := range []bool{false, true} {
		if err := c.Reboot(ctx, fresh); err != nil {
			t.Fatalf("reboot(fresh=%v): %v", fresh, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range info.Ports {
			if p.HostPort == 18097 && p.ContainerPort == 80 {
				found = true
			}
		}
		if !found || info.Network != "bridge" || info.IPAddress == "" {
			t.Fatalf("after reboot(fresh=%v): network %q address %q ports %+v", fresh, info.Network, info.IPAddress, info.Ports)
		}
		startHTTPD(t, c)
		if body, err := httpGet("http://127.0.0.1:18097/"); err != nil || !strings.Contains(body, page) {
			t.Fatalf("after reboot(fresh=%v): %q %v", fresh, body, err)
		}
	}
}
