package pgcluster

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUser is the system account PostgreSQL runs as when we are root:
// the server refuses to run as root, and Debian's package creates this user.
const serverUser = "postgres"

// account is the system user the server processes run as, when it is not
// ourselves.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

// serverAccount returns nil when we are not root (the server runs as
// ourselves), else the postgres system user.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no %q system user to run it as "+
			"(install Debian's postgresql package, which creates it, or run as a normal user): %w", serverUser, err)
	}
	a := &account{name: u.Username}
	if a.uid, err = parseID(u.Uid); err != nil {
		return nil, err
	}
	if a.gid, err = parseID(u.Gid); err != nil {
		return nil, err
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups of user %s: %w", serverUser, err)
	}
	for _, g := range gids {
		id, err := parseID(g)
		if err != nil {
			return nil, err
		}
		a.groups = append(a.groups, id)
	}
	return a, nil
}

func parseID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %s: unexpected id %q: %w", serverUser, s, err)
	}
	return uint32(id), nil
}

func (a *account) credential() *syscall.Credential {
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

// canTraverse reports whether the account may search (x) the directory,
// with the permission bits the kernel would use: owner's, else group's,
// else others'.
func (a *account) canTraverse(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := info.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case a.inGroup(st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func (a *account) inGroup(gid uint32) bool {
	if gid == a.gid {
		return true
	}
	for _, g := range a.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// makeReachable gives others the execute bit on every ancestor of dir the
// account cannot traverse (a home directory such as /root is often 0700),
// and says so: it is the smallest change that lets the server reach its data.
// Both the path as given and its symlink-free form are checked.
func (a *account) makeReachable(dir string, logger *slog.Logger) error {
	paths := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			info, err := os.Stat(d)
			if err != nil {
				return fmt.Errorf("check access of %s to %s: %w", a.name, d, err)
			}
			if !a.canTraverse(info) {
				mode := info.Mode().Perm()
				if err := os.Chmod(d, mode|0o001); err != nil {
					return fmt.Errorf("directory %s is not traversable by the %s user, which runs PostgreSQL, "+
						"and adding o+x failed (fix its permissions or choose another data directory): %w", d, a.name, err)
				}
				logger.Warn("added execute permission for others (o+x) to a directory so that the "+
					a.name+" user, which runs the embedded PostgreSQL, can reach its data below it",
					"dir", d, "mode_before", fmt.Sprintf("%04o", mode))
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// clusterEntries are the names Start creates in a cluster directory.
var clusterEntries = []string{dataDirName, dataDirName + stagingSuffix, passwordFileName, logFileName, lockFileName}

// adoptDir makes dir (created if absent) belong to the account, with mode
// 0700. An existing directory is adopted only if it is empty or already a
// cluster directory, so a mistaken --dir cannot hand a user's files to postgres.
func (a *account) adoptDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && st.Uid == a.uid && st.Gid == a.gid && info.Mode().Perm() == 0o700 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 && !containsAny(dir, clusterEntries) {
		return fmt.Errorf("%s is neither empty nor a PostgreSQL cluster directory made by selfcare: choose another directory", dir)
	}
	if err := os.Chown(dir, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("give %s to the %s user: %w", dir, a.name, err)
	}
	return os.Chmod(dir, 0o700)
}

func containsAny(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}
