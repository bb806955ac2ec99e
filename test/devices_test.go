package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
)

// ptyPair opens a pty pair on the host: the master, the slave's path
// (/dev/pts/N) and the slave itself, kept open by the test (in raw mode, so
// bytes pass unchanged) so the master never sees a hang-up. Both close when
// the test ends.
func ptyPair(t *testing.T) (master *os.File, slavePath string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slavePath = "/dev/pts/" + strconv.Itoa(n)
	s, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", slavePath, err)
	}
	t.Cleanup(func() { s.Close() })
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	// cfmakeraw
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return m, slavePath
}

// readFull reads n bytes from f, giving up after d (poll(2): f.Fd() put
// the master in blocking mode, where read deadlines do not apply).
func readFull(f *os.File, n int, d time.Duration) ([]byte, error) {
	deadline := time.Now().Add(d)
	fd := int(f.Fd())
	buf := make([]byte, 0, n)
	tmp := make([]byte, n)
	for len(buf) < n {
		left := time.Until(deadline)
		if left <= 0 {
			return buf, os.ErrDeadlineExceeded
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(fds, int(min(left, 100*time.Millisecond)/time.Millisecond)+1)
		if err == unix.EINTR || k == 0 {
			continue
		}
		if err != nil {
			return buf, err
		}
		r, err := unix.Read(fd, tmp[:n-len(buf)])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return buf, err
		}
		buf = append(buf, tmp[:r]...)
	}
	return buf, nil
}

// serialScript is what the container runs: open the port, write ping, read
// four bytes back and print them.
const serialScript = `import os
fd = os.open('/dev/ttyUSB0', os.O_RDWR | os.O_NOCTTY)
os.write(fd, b'ping')
buf = b''
while len(buf) < 4:
    buf += os.read(fd, 4 - len(buf))
print(buf.decode())
`

// serialExchange runs serialScript in c while the host answers on master:
// it waits for "ping" and writes "pong". It returns the run's result and
// what the host read.
func serialExchange(t *testing.T, c *pocketdock.Container, master *os.File, opts ...pocketdock.RunOption) (pocketdock.ExecResult, string) {
	t.Helper()
	type out struct {
		res pocketdock.ExecResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		opts := append([]pocketdock.RunOption{pocketdock.WithLang("python"), pocketdock.WithTimeout(20 * time.Second)}, opts...)
		res, err := c.Run(context.Background(), serialScript, opts...)
		done <- out{res, err}
	}()
	stop := make(chan struct{})
	got := make(chan []byte, 1)
	go func() {
		// Read in short rounds, so a run that ends without writing ends this too.
		var b []byte
		for len(b) < 4 {
			select {
			case <-stop:
				got <- b
				return
			default:
			}
			more, _ := readFull(master, 4-len(b), 200*time.Millisecond)
			b = append(b, more...)
		}
		got <- b
	}()
	var read []byte
	select {
	case read = <-got:
		if string(read) == "ping" {
			if _, err := master.Write([]byte("pong")); err != nil {
				t.Errorf("write pong: %v", err)
			}
		}
	case o := <-done:
		close(stop)
		read = <-got
		if o.err != nil {
			t.Fatal(o.err)
		}
		return o.res, string(read)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.res, string(read)
}

func dialoutGID(t *testing.T) int {
	t.Helper()
	g, err := user.LookupGroup("dialout")
	if err != nil {
		t.Skipf("host has no group dialout: %v", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return gid
}

// TestSerialDevicePty is the serial case: a pty slave with the group
// dialout, passed as /dev/ttyUSB0 into a container whose user is sandbox; a
// ping/pong exchange through it. Without the group step the same run cannot
// open the device.
func TestSerialDevicePty(t *testing.T) {
	needRoot(t)
	gid := dialoutGID(t)

	t.Run("with group dialout", func(t *testing.T) {
		master, slave := ptyPair(t)
		if err := os.Chown(slave, -1, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(slave, 0o660); err != nil {
			t.Fatal(err)
		}
		c := newContainer(t, pocketdock.Options{Image: pythonImage, Devices: []string{slave + ":/dev/ttyUSB0"}})
		res, read := serialExchange(t, c, master)
		if read != "ping" || res.ExitCode != 0 || res.Stdout != "pong\n" {
			t.Fatalf("exchange: host read %q, container %+v", read, res)
		}
		// The node is the host's (bind-mounted), not one made with mknod.
		st, err := c.Run(context.Background(), "stat -c '%t:%T %U:%G %a' /dev/ttyUSB0; id -un")
		if err != nil {
			t.Fatal(err)
		}
		var hs unix.Stat_t
		if err := unix.Stat(slave, &hs); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%x:%x root:dialout 660\nsandbox\n", unix.Major(hs.Rdev), unix.Minor(hs.Rdev))
		if st.Stdout != want {
			t.Fatalf("in the container: %q, want %q", st.Stdout, want)
		}
	})

	t.Run("without the group step", func(t *testing.T) {
		master, slave := ptyPair(t) // root:root 0600 (the host's devpts mode)
		var hs unix.Stat_t
		if err := unix.Stat(slave, &hs); err != nil {
			t.Fatal(err)
		}
		if hs.Mode&0o077 != 0 && int(hs.Gid) != 0 {
			t.Skipf("this host's devpts gives new slaves group %d mode %o", hs.Gid, hs.Mode&0o777)
		}
		c := newContainer(t, pocketdock.Options{Image: pythonImage, Devices: []string{slave + ":/dev/ttyUSB0"}})
		res, read := serialExchange(t, c, master)
		if res.ExitCode == 0 || read != "" || !strings.Contains(res.Stderr, "Permission denied") {
			t.Fatalf("without the group the open should fail: host read %q, container %+v", read, res)
		}
	})
}

// TestDeviceGroupJoinsCommands: the device's group reaches every command's
// supplementary groups, also for a group the image's user is not in and
// for commands run as another user; the access rests on that group alone.
// The host path is a symlink (like /dev/serial/by-id/...), resolved to the node.
func TestDeviceGroupJoinsCommands(t *testing.T) {
	needRoot(t)
	const gid = 4321 // in no group of the image
	master, slave := ptyPair(t)
	if err := os.Chown(slave, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(slave, 0o660); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "usb-FTDI_FT232R_USB_UART_A10KZ0-if00-port0")
	if err := os.Symlink(slave, link); err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, pocketdock.Options{Image: pythonImage, Devices: []string{link + ":/dev/ttyUSB0:rw"}})
	ctx := context.Background()
	for _, opts := range [][]pocketdock.RunOption{nil, {pocketdock.WithUser("1000:1000")}, {pocketdock.WithUser("nobody")}} {
		res, err := c.Run(ctx, "id -G", opts...)
		if err != nil || !strings.Contains(" "+strings.TrimSpace(res.Stdout)+" ", " 4321 ") {
			t.Fatalf("groups of a command (%d options): %+v %v", len(opts), res, err)
		}
	}
	res, read := serialExchange(t, c, master)
	if read != "ping" || res.Stdout != "pong\n" {
		t.Fatalf("exchange through the symlinked device: host read %q, container %+v", read, res)
	}
	// The same node with another group: the command's groups (fixed at
	// start) no longer match, and the open fails.
	if err := os.Chown(slave, -1, gid+1); err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, "echo x > /dev/ttyUSB0")
	if err != nil || res.ExitCode == 0 || !strings.Contains(res.Stderr, "Permission denied") {
		t.Fatalf("after changing the node's group: %+v %v", res, err)
	}
}

// TestDeviceCgroupRule: a device outside libcontainer's default list
// (/dev/fuse, 10:229) is reachable only as its PERMS allow, through the
// cgroup rule (EPERM, even for root, beyond them), and appears at the host
// path when no container path is given.
func TestDeviceCgroupRule(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("host has no /dev/fuse")
	}
	ctx := context.Background()
	ro := newContainer(t, pocketdock.Options{Image: busyboxImage, Devices: []string{"/dev/fuse:r"}})
	res, err := ro.Run(ctx, "exec 3</dev/fuse && echo read-ok; exec 4>/dev/fuse && echo write-ok")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Stdout, "read-ok") || strings.Contains(res.Stdout, "write-ok") || !strings.Contains(res.Stderr, "Operation not permitted") {
		t.Fatalf("perms r: %+v", res)
	}
	rw := newContainer(t, pocketdock.Options{Image: busyboxImage, Devices: []string{"/dev/fuse"}})
	res, err = rw.Run(ctx, "exec 3</dev/fuse && echo read-ok; exec 4>/dev/fuse && echo write-ok")
	if err != nil || res.Stdout != "read-ok\nwrite-ok\n" {
		t.Fatalf("perms rwm: %+v %v", res, err)
	}
	none := newContainer(t, pocketdock.Options{Image: busyboxImage})
	res, err = none.Run(ctx, "test -e /dev/fuse && echo present")
	if err != nil || bytes.Contains([]byte(res.Stdout), []byte("present")) {
		t.Fatalf("without --device: %+v %v", res, err)
	}
}
