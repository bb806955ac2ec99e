package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pocketdock/pocketdock"
)

// newLoginCmd is `login REGISTRY [-u USER] [-p PASS | --password-stdin]`.
func newLoginCmd(g *globals) *cobra.Command {
	var (
		user, password string
		passwordStdin  bool
	)
	cmd := &cobra.Command{
		Use:   "login REGISTRY",
		Short: "Log in to a registry (credentials are checked, then stored where pulls find them)",
		Long: "Check a username and password against REGISTRY and store them in the auth file podman uses:\n" +
			"$REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ${XDG_RUNTIME_DIR}/containers/auth.json\n" +
			"(/run/containers/0/auth.json as root without XDG_RUNTIME_DIR). Pulls read the same file.\n" +
			"Missing username or password are asked for on a terminal.",
		Example: "  pocketdock login quay.io -u me\n" +
			"  echo \"$TOKEN\" | pocketdock login ghcr.io -u me --password-stdin\n" +
			"  pocketdock login localhost:5000 -u ci -p secret",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := os.Stdin
			tty := isTerminal(in)
			if passwordStdin {
				if password != "" {
					return fmt.Errorf("%w: --password and --password-stdin cannot be combined", pocketdock.ErrInvalidArgument)
				}
				if user == "" {
					return fmt.Errorf("%w: --password-stdin needs --username", pocketdock.ErrInvalidArgument)
				}
				b, err := io.ReadAll(io.LimitReader(in, 1<<20))
				if err != nil {
					return fmt.Errorf("reading the password from stdin: %w", err)
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" {
				if !tty {
					return fmt.Errorf("%w: no username: pass -u USER (stdin is not a terminal)", pocketdock.ErrInvalidArgument)
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Username: ")
				line, _ := bufio.NewReader(in).ReadString('\n')
				user = strings.TrimSpace(line)
			}
			if password == "" && !passwordStdin {
				if !tty {
					return fmt.Errorf("%w: no password: pass --password-stdin (stdin is not a terminal)", pocketdock.ErrInvalidArgument)
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				b, err := term.ReadPassword(int(in.Fd()))
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("reading the password: %w", err)
				}
				password = string(b)
			}
			if _, err := pocketdock.LoginRegistry(cmd.Context(), g.root, args[0], user, password); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded!")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "user name")
	f.StringVarP(&password, "password", "p", "", "password (visible in the process list; prefer --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// newLogoutCmd is `logout REGISTRY | --all`.
func newLogoutCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "logout REGISTRY | --all",
		Short: "Remove a registry's stored credentials",
		Example: "  pocketdock logout quay.io\n" +
			"  pocketdock logout --all",
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) == 0 || !all && len(args) == 1 {
				return nil
			}
			return fmt.Errorf("%w: want REGISTRY or --all", pocketdock.ErrInvalidArgument)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			registry := ""
			if len(args) == 1 {
				registry = args[0]
			}
			if err := pocketdock.LogoutRegistry(cmd.Context(), g.root, registry, all); err != nil {
				return err
			}
			if all {
				fmt.Fprintln(cmd.OutOrStdout(), "Removed login credentials for all registries")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "Removed login credentials for", registry)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove the credentials of every registry")
	return cmd
}
