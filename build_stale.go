package pocketdock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// Labels of the builder's RUN containers.
const (
	// buildLabel marks a RUN step's container ("true").
	buildLabel = "io.pocketdock.build"
	// buildOwnerLabel names the process that runs the build: "PID:START",
	// START being the process's start time in clock ticks after boot
	// (/proc/PID/stat field 22), so a reused PID is not taken for it.
	buildOwnerLabel = "io.pocketdock.build.owner"
)

// processToken returns "PID:START" of process pid ("" when it is gone).
func processToken(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + ":" + f[19]
}

// buildOwner is this process's owner token for its build containers.
var buildOwner = processToken(os.Getpid())

// staleBuild is a build container whose build is gone, and why.
type staleBuild struct {
	rec    *pdrt.Record
	reason string
}

// staleBuildContainers lists the RUN containers of builds that no live
// process runs any more (a build killed with SIGKILL or a crash leaves its
// current RUN container behind). A container being created (its record not
// yet complete) is left to Doctor's half-made container check.
func staleBuildContainers(m *pdrt.Manager) ([]staleBuild, error) {
	recs, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []staleBuild
	for _, r := range recs {
		if r.Labels[buildLabel] != "true" || r.State == pdrt.RecordCreating {
			continue
		}
		owner := r.Labels[buildOwnerLabel]
		if owner == "" {
			out = append(out, staleBuild{r, "made by a build that recorded no owner process"})
			continue
		}
		pid, _, _ := strings.Cut(owner, ":")
		if buildOwnerRunning(owner) {
			continue // its build is running
		}
		out = append(out, staleBuild{r, "its build (pid " + pid + ") is gone"})
	}
	return out, nil
}

// buildOwnerRunning reports whether the process of a build owner token
// ("PID:START", buildOwnerLabel) still runs.
func buildOwnerRunning(owner string) bool {
	pid, _, _ := strings.Cut(owner, ":")
	n, err := strconv.Atoi(pid)
	return err == nil && n > 0 && processToken(n) == owner
}

// buildUnderWay reports whether r is the RUN container of a build that is
// still running (its owner process lives), being created or not.
func buildUnderWay(r *pdrt.Record) bool {
	return r.Labels[buildLabel] == "true" && buildOwnerRunning(r.Labels[buildOwnerLabel])
}

// removeStaleBuildContainers removes the containers of builds that are gone
// (see staleBuildContainers), saying so on progress; it returns the names
// of what it removed. A container that cannot be removed is an error, the
// others are still removed.
func removeStaleBuildContainers(ctx context.Context, m *pdrt.Manager, progress io.Writer) ([]string, error) {
	stale, err := staleBuildContainers(m)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, s := range stale {
		err := m.Remove(ctx, s.rec, true, 0)
		if err != nil && !errors.Is(err, ErrContainerNotFound) && !errors.Is(err, ErrContainerGone) {
			errs = append(errs, fmt.Errorf("remove stale build container %s: %w", s.rec.Name, err))
			continue
		}
		if progress != nil {
			fmt.Fprintf(progress, "--> removed stale build container %s: %s\n", s.rec.Name, s.reason)
		}
		done = append(done, s.rec.Name)
	}
	return done, errors.Join(errs...)
}

// doctorBuilds adds the stale build containers to rep ("build container
// NAME (ID): why"), and with fix removes them. They were counted healthy
// by the runtime's check; they are not.
func doctorBuilds(ctx context.Context, m *pdrt.Manager, fix bool, rep *DoctorReport) error {
	stale, err := staleBuildContainers(m)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range stale {
		what := fmt.Sprintf("build container %s (%s): %s", s.rec.Name, s.rec.ID[:12], s.reason)
		rep.Orphans = append(rep.Orphans, what)
		if rep.Healthy > 0 {
			rep.Healthy--
		}
		if !fix {
			continue
		}
		err := m.Remove(ctx, s.rec, true, 0)
		if err != nil && !errors.Is(err, ErrContainerNotFound) && !errors.Is(err, ErrContainerGone) {
			errs = append(errs, fmt.Errorf("remove %s: %w", what, err))
			continue
		}
		rep.Fixed = append(rep.Fixed, what)
	}
	return errors.Join(errs...)
}
