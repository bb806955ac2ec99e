package pocketdock

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// Terminal is a command running on a pseudo-terminal (Container.Terminal).
// Read and Write go to the pty's master side: what the command prints, and
// what it reads as typed input.
type Terminal struct {
	*os.File // the pty master
	conn     *agent.Conn
	once     sync.Once
}

// openPty makes a new pty pair on the host: the master, and the slave
// opened through TIOCGPTPEER (no path lookup).
func openPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), uintptr(unix.TIOCGPTPEER), uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(sfd, "pts"), nil
}

// Terminal starts argv (no shell; e.g. {"/bin/sh", "-i"}) on a new
// pseudo-terminal: the host makes the pty and passes its slave side to the
// agent, which makes it the command's controlling terminal. rows and cols
// set the initial window size (0 = leave the default). TERM is set from
// the host's when the command's environment has none. Options: WithEnv,
// WithWorkdir, WithUser.
func (c *Container) Terminal(ctx context.Context, argv []string, rows, cols uint16, opts ...RunOption) (*Terminal, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("terminal in %s: %w: empty command", c.rec.Name, ErrInvalidArgument)
	}
	if t := os.Getenv("TERM"); t != "" {
		cfg.env = append([]string{"TERM=" + t}, cfg.env...)
	} else {
		cfg.env = append([]string{"TERM=xterm"}, cfg.env...)
	}
	req, err := c.request(argv, cfg)
	if err != nil {
		return nil, fmt.Errorf("terminal in %s: %w", c.rec.Name, err)
	}
	req.Tty = true
	master, slave, err := openPty()
	if err != nil {
		return nil, fmt.Errorf("terminal in %s: %w", c.rec.Name, err)
	}
	defer slave.Close()
	if rows > 0 && cols > 0 {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	conn, err := c.m.Dial(ctx, c.rec)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("terminal in %s: %w", c.rec.Name, err)
	}
	if _, err := conn.Start(req, slave, slave, slave); err != nil {
		master.Close()
		conn.Close()
		return nil, fmt.Errorf("terminal in %s: %w", c.rec.Name, err)
	}
	return &Terminal{File: master, conn: conn}, nil
}

// Resize sets the terminal's window size (the command gets SIGWINCH).
func (t *Terminal) Resize(rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(t.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}

// Wait waits for the command to exit and returns its exit code (128+N when
// signal N killed it). Read the master until it fails (EIO once the command
// and its children closed the terminal) to get all output.
func (t *Terminal) Wait() (int, error) {
	code, err := t.conn.Wait()
	if err != nil {
		return -1, fmt.Errorf("terminal: %w", err)
	}
	return code, nil
}

// Close ends the command's tree (if still running) and closes the master.
func (t *Terminal) Close() error {
	t.once.Do(func() {
		t.conn.Close()
		t.File.Close()
	})
	return nil
}

// String names the terminal for diagnostics.
func (t *Terminal) String() string { return "pty master fd " + strconv.Itoa(int(t.Fd())) }

// Signal sends sig to every process of the command's tree (SIGKILL ends
// it; Wait then returns 137). A no-op once the command ended.
func (t *Terminal) Signal(sig syscall.Signal) error {
	if err := t.conn.Signal(sig); err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	return nil
}
