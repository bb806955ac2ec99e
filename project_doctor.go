package pocketdock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pocketdock/pocketdock/project"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// projectDoctor adds the project checks to rep (DoctorOptions.ProjectRoot):
//   - orphaned containers: a record that joined a project (of o.ProjectRoot,
//     or of any project when it is "") whose instance directory is gone;
//   - stale instance directories of o.ProjectRoot: instance.toml names a
//     container of this state root that no longer exists, or cannot be
//     read; o.Fix removes them. Directories of another state root's
//     containers are left alone.
func projectDoctor(m *pdrt.Manager, o DoctorOptions, rep *DoctorReport) error {
	root := ""
	if o.ProjectRoot != "" {
		abs, err := filepath.Abs(o.ProjectRoot)
		if err != nil {
			return err
		}
		if _, err := project.Load(abs); err != nil {
			return projectErr("doctor: project", err)
		}
		root = abs
	}
	recs, err := m.List()
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
		if r.ProjectRoot == "" || r.State == pdrt.RecordCreating || (root != "" && !samePath(r.ProjectRoot, root)) {
			continue
		}
		dir := project.InstanceDir(r.ProjectRoot, r.Name)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			if root != "" {
				rep.ProjectHealthy++
			}
			continue
		}
		rep.OrphanedContainers = append(rep.OrphanedContainers, r.Name)
		rep.Orphans = append(rep.Orphans, fmt.Sprintf("orphaned container %s (project %s): its instance directory %s is gone (pocketdock rm %s removes the container)",
			r.Name, r.Project, dir, r.Name))
	}
	if root == "" {
		return nil
	}
	list, err := project.ListInstances(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range list {
		var why string
		switch {
		case in.Err != nil:
			why = "no readable " + project.InstanceFile
		case in.Instance.StateRoot != "" && in.Instance.StateRoot != m.Paths().ID():
			continue // another state root's container
		case !ids[in.Instance.ID]:
			why = "its container " + shortID(in.Instance.ID) + " is gone"
		default:
			continue
		}
		what := fmt.Sprintf("stale instance directory %s (%s)", in.Dir, why)
		rep.StaleInstances = append(rep.StaleInstances, in.Dir)
		rep.Orphans = append(rep.Orphans, what)
		if o.Fix {
			if err := project.RemoveInstance(root, in.Name); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				continue
			}
			rep.Fixed = append(rep.Fixed, what)
		}
	}
	return errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "(none)"
	}
	return id
}
