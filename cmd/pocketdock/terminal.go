package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
)

// terminalHelp describes stdin and signals of shell, run -t and exec -t.
const terminalHelp = `When stdin is a terminal it is put in raw mode: every key, Ctrl-C and Ctrl-D
included, goes to the command. When stdin is not a terminal (a pipe, a file,
/dev/null) it is forwarded (shell always; run -t and exec -t with -i, else it
is empty), and at its end the pty's end-of-file character (Ctrl-D) is typed,
again every second while the command runs: a shell at its prompt exits.

SIGTERM, SIGHUP or SIGINT sent to this process restore the terminal, kill the
command and everything it started in the container (the container keeps
running) and exit 128+signal (143 for SIGTERM).`

// endSignals end a terminal client: the host terminal is restored, the
// command's tree in the container is killed and the client exits 128+N.
// On a raw local terminal Ctrl-C is a byte for the container, not SIGINT.
var endSignals = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT}

// killWait bounds how long an ending client waits for the agent to report
// the killed command's exit (the tree is killed either way once the
// connection closes).
const killWait = 10 * time.Second

// eofEvery is how often end-of-file is typed again while the command runs
// after stdin ended: an EOF sent before the command switched the pty to
// raw mode (readline) reaches it as a NUL byte instead.
const eofEvery = time.Second

// veof returns the pty's end-of-file character (VEOF; Ctrl-D by default).
func veof(t *pocketdock.Terminal) byte {
	if tio, err := unix.IoctlGetTermios(int(t.Fd()), unix.TCGETS); err == nil && tio.Cc[unix.VEOF] != 0 {
		return tio.Cc[unix.VEOF]
	}
	return 0x04
}

// feedStdin copies in to the terminal. When in ends (and stdin is not a
// terminal), it types the pty's VEOF character — after a newline's worth
// of pending input is ended too — and again every eofEvery until done is
// closed, so that a shell at its prompt (or cat) sees end-of-file and exits.
// forward false means empty stdin: only the end-of-file is sent.
func feedStdin(t *pocketdock.Terminal, in io.Reader, forward bool, done <-chan struct{}) {
	var last byte = '\n'
	if forward {
		buf := make([]byte, 32*1024)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				if _, werr := t.Write(buf[:n]); werr != nil {
					return
				}
				last = buf[n-1]
			}
			if err != nil {
				break
			}
		}
	}
	eof := []byte{veof(t)}
	if last != '\n' {
		// The first VEOF only ends the unfinished line.
		t.Write(eof)
	}
	tick := time.NewTicker(eofEvery)
	defer tick.Stop()
	for {
		if _, err := t.Write(eof); err != nil {
			return
		}
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// waitOrSignal waits for the terminal's command, or for one of endSignals:
// then it kills the command's tree in the container (as a timed-out run
// does), waits a bounded time for the agent to report it ended, and
// returns 128+N.
func waitOrSignal(t *pocketdock.Terminal) (int, error) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, endSignals...)
	defer signal.Stop(sigs)
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := t.Wait()
		res <- result{code, err}
	}()
	select {
	case r := <-res:
		return r.code, r.err
	case s := <-sigs:
		t.Signal(syscall.SIGKILL)
		select {
		case <-res:
		case <-time.After(killWait):
		}
		t.Close()
		return 128 + int(s.(syscall.Signal)), nil
	}
}
