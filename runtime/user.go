package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// openInRootfs opens a file of the container's rootfs for reading, resolving
// the path as the container would (symlinks can never lead out of rootfs),
// through filepath-securejoin's race-safe API. A missing file returns (nil, nil).
func openInRootfs(rootfs, path string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// resolveUser turns a user spec ("", "name", "uid", "name:group", "uid:gid")
// into numeric IDs, supplementary groups and the home directory, reading the
// container's /etc/passwd and /etc/group inside rootfs (docker's rules:
// a numeric ID absent from passwd is allowed; a name must exist).
// Errors wrap ErrInvalidArgument and name the user.
func resolveUser(rootfs, spec string) (uid, gid uint32, groups []uint32, home string, err error) {
	passwd, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil {
		return 0, 0, nil, "", err
	}
	group, err := openInRootfs(rootfs, "/etc/group")
	if err != nil {
		if passwd != nil {
			passwd.Close()
		}
		return 0, 0, nil, "", err
	}
	var pr, gr io.Reader
	if passwd != nil {
		defer passwd.Close()
		pr = passwd
	}
	if group != nil {
		defer group.Close()
		gr = group
	}
	defaults := &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
	eu, err := user.GetExecUser(spec, defaults, pr, gr)
	if err != nil {
		return 0, 0, nil, "", fmt.Errorf("%w: user %q: %v (want a name or ID from the image's /etc/passwd, optionally :group)", ErrInvalidArgument, spec, err)
	}
	if eu.Uid < 0 || eu.Gid < 0 {
		return 0, 0, nil, "", fmt.Errorf("%w: user %q resolves to a negative ID", ErrInvalidArgument, spec)
	}
	for _, g := range eu.Sgids {
		if g >= 0 && g != eu.Gid {
			groups = append(groups, uint32(g))
		}
	}
	return uint32(eu.Uid), uint32(eu.Gid), groups, eu.Home, nil
}

// mergeEnv overlays over on base ("K=V" lists); later keys win, order kept.
func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	var out []string
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, kv := range over {
		add(kv)
	}
	return out
}

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// ResolveUser resolves a user spec ("name", "uid", "name:group", "uid:gid") against
// the /etc/passwd and /etc/group of rec's mounted rootfs. ErrInvalidArgument names
// an unknown user.
func (m *Manager) ResolveUser(rec *Record, spec string) (uid, gid uint32, groups []uint32, err error) {
	if rec.Rootfs == "" {
		return 0, 0, nil, fmt.Errorf("%w: %s has no rootfs mounted", ErrContainerNotRunning, rec.Name)
	}
	uid, gid, groups, _, err = resolveUser(rec.Rootfs, spec)
	if err == nil {
		groups = withDeviceGroups(rec, gid, groups)
	}
	return uid, gid, groups, err
}

// MergeEnv overlays over on base ("K=V" lists); later keys win, order kept.
func MergeEnv(base, over []string) []string { return mergeEnv(base, over) }
