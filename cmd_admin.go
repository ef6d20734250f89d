package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sessionmon/backend"
	"sessionmon/data/django"
	"sessionmon/sessionlogic"
)

func (a *app) migrateCmd() *cobra.Command {
	var notify, removeNotify bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the store's schema",
		Long: `Create or upgrade the store's schema. With --source django it creates
sessionmon's own audit table (sessionmon_django_audit) in the Django site's
database, never touching a table of Django's; --django-notify also installs
the opt-in NOTIFY trigger on django_session (PostgreSQL) so the dashboard
sees logins and logouts at once.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.isDjango() {
				db, err := a.djangoDB()
				if err != nil {
					return err
				}
				if err := django.Migrate(cmd.Context(), db, django.MigrateOptions{Notify: notify, RemoveNotify: removeNotify}); err != nil {
					return err
				}
				what := "sessionmon_django_audit"
				if notify {
					what += " and the NOTIFY trigger"
				} else if removeNotify {
					what += "; NOTIFY trigger removed"
				}
				fmt.Fprintf(a.stdout, "migrated the Django site's database: %s\n", what)
				return nil
			}
			if notify || removeNotify {
				return usageError{fmt.Errorf("--django-notify and --django-remove-notify need --source django")}
			}
			st, err := a.openStore(cmd.Context(), backend.Migrate)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(a.stdout, "migrated %s\n", st.Describe())
			return nil
		},
	}
	cmd.Flags().BoolVar(&notify, "django-notify", false, "with --source django on PostgreSQL: install the NOTIFY trigger on django_session")
	cmd.Flags().BoolVar(&removeNotify, "django-remove-notify", false, "with --source django: drop the NOTIFY trigger")
	return cmd
}

func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (secrets redacted)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.cfg.Format(a.stdout)
		},
	}
}

func (a *app) usersCmd() *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "Manage the login server's users"}

	var nu sessionlogic.NewUser
	var passwordStdin bool
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add a user (prints a generated password unless --password-stdin)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu.Username = args[0]
			var generated bool
			var err error
			nu.Password, generated, err = a.newPassword(passwordStdin)
			if err != nil {
				return err
			}
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				u, err := m.AddUser(cmd.Context(), a.operator(), nu)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "added %s (id %d, role %s)\n", u.Username, u.ID, u.Role)
				if generated {
					fmt.Fprintf(a.stdout, "password: %s\n", nu.Password)
				}
				return nil
			})
		},
	}
	add.Flags().StringVar(&nu.Role, "role", "user", "role (a lower-case word)")
	add.Flags().StringVar(&nu.Email, "email", "", "email address")
	add.Flags().StringVar(&nu.FullName, "name", "", "full name")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				us, err := m.Users(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]userJSON, len(us))
					for i, u := range us {
						out[i] = userJSON{u.ID, u.Username, u.Email, u.FullName, u.Role, u.Status, u.CreatedAt}
					}
					return writeJSON(a.stdout, out)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tEMAIL\tROLE\tSTATUS")
				for _, u := range us {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.FullName, u.Email, u.Role, u.Status)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	setRole := &cobra.Command{
		Use:   "set-role USERNAME ROLE",
		Short: "Change a user's role (their current sessions keep the role they logged in with)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				u, err := m.SetRole(cmd.Context(), a.operator(), args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s is now %s\n", u.Username, u.Role)
				return nil
			})
		},
	}
	deactivate := &cobra.Command{
		Use:   "deactivate USERNAME",
		Short: "Deactivate a user and end all their sessions",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				n, err := m.Deactivate(cmd.Context(), a.operator(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deactivated %s: %s ended\n", args[0], plural(n, "session"))
				return nil
			})
		},
	}
	activate := &cobra.Command{
		Use:   "activate USERNAME",
		Short: "Let a deactivated user log in again",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				if err := m.Activate(cmd.Context(), a.operator(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "activated %s\n", args[0])
				return nil
			})
		},
	}
	var setPasswordStdin bool
	setPassword := &cobra.Command{
		Use:   "set-password USERNAME",
		Short: "Reset a user's password and end all their sessions (prints a generated password unless --password-stdin)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, generated, err := a.newPassword(setPasswordStdin)
			if err != nil {
				return err
			}
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				n, err := m.SetPassword(cmd.Context(), a.operator(), args[0], password)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "password of %s changed; %s ended\n", args[0], plural(n, "session"))
				if generated {
					fmt.Fprintf(a.stdout, "password: %s\n", password)
				}
				return nil
			})
		},
	}
	setPassword.Flags().BoolVar(&setPasswordStdin, "password-stdin", false, "read the password from the first line of standard input")

	users.AddCommand(add, list, setRole, setPassword, deactivate, activate)
	return users
}

// newPassword is the password for users add and users set-password: the
// first line of stdin when fromStdin, else a generated one (generated is
// true: the caller prints it once, after the change succeeded).
func (a *app) newPassword(fromStdin bool) (password string, generated bool, err error) {
	if !fromStdin {
		return sessionlogic.NewToken()[:20], true, nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

type userJSON struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	FullName  string    `json:"full_name"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *app) sessionsCmd() *cobra.Command {
	sessions := &cobra.Command{Use: "sessions", Short: "List, revoke, extend and purge sessions"}

	var (
		q      sessionlogic.ListQuery
		sort   string
		asJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List active sessions",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q.Sort = sessionlogic.SortKey(sort)
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) (retErr error) {
				p, err := m.Active(cmd.Context(), q)
				// A corrupt row is reported by name and never hides the
				// good rows; the command still exits non-zero.
				bad, rest := sessionlogic.SplitRowErrors(err)
				if rest != nil {
					return rest
				}
				defer func() {
					for _, re := range bad {
						fmt.Fprintf(a.stderr, "error: %v\n", re)
					}
					if len(bad) > 0 && retErr == nil {
						retErr = fmt.Errorf("%s could not be read (listed above)", plural(len(bad), "corrupt session row"))
					}
				}()
				if asJSON {
					out := make([]sessionlogic.Fields, len(p.Sessions))
					for i, s := range p.Sessions {
						out[i] = sessionlogic.OperatorFields(s) // the dashboard's export writes the same
					}
					return writeJSON(a.stdout, out)
				}
				now := m.Now()
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tROLE\tIP\tLOGGED IN\tLAST ACTIVITY\tEXPIRES IN")
				for _, s := range p.Sessions {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s ago\t%s ago\t%s\n", s.ID, s.Username, s.FullName, s.Role, s.IP,
						roughDuration(now.Sub(s.LoginTime)), roughDuration(now.Sub(s.LastActivity)), roughDuration(s.ExpiresAt.Sub(now)))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if p.Next != nil {
					fmt.Fprintf(a.stderr, "(more than %d; raise --limit or narrow the filter)\n", len(p.Sessions))
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&q.Username, "user", "", "only this username")
	list.Flags().StringVar(&q.Role, "role", "", "only this role")
	list.Flags().StringVar(&q.Text, "filter", "", "substring of user, name, email, role or IP; user:NAME, ip:ADDR, role:NAME match exactly")
	list.Flags().StringVar(&sort, "sort", string(sessionlogic.SortExpires), "expires, last_activity, login_time or user")
	list.Flags().BoolVar(&q.Desc, "desc", false, "reverse the order")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many rows")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Force-logout one session now (its holder's next request is refused)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				s, err := m.ForceLogout(cmd.Context(), a.operator(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "logged out %s: session %s\n", s.Username, sessionlogic.ShortID(s.ID))
				return nil
			})
		},
	}
	revokeUser := &cobra.Command{
		Use:   "revoke-user USERNAME",
		Short: "Force-logout every session of a user",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				n, err := m.ForceLogoutUser(cmd.Context(), a.operator(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "logged out %s: %s\n", args[0], plural(n, "session"))
				return nil
			})
		},
	}
	extend := &cobra.Command{
		Use:   "extend ID DURATION",
		Short: "Move a session's expiry later, e.g. extend ID 2h",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := time.ParseDuration(args[1])
			if err != nil {
				return usageError{fmt.Errorf("duration %q: want a Go duration like 30m, 2h or 48h", args[1])}
			}
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				s, err := m.Extend(cmd.Context(), a.operator(), args[0], d)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "extended %s's session %s by %s: expires %s (in %s)\n", s.Username,
					sessionlogic.ShortID(s.ID), d, s.ExpiresAt.Format(time.RFC3339), roughDuration(s.ExpiresAt.Sub(m.Now())))
				return nil
			})
		},
	}
	purge := &cobra.Command{
		Use:   "purge",
		Short: "Delete sessions that ended or expired longer ago than session.purge_retention",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withManager(cmd.Context(), func(m *sessionlogic.Manager) error {
				n, err := m.Purge(cmd.Context(), a.operator())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "purged %s\n", plural(int(n), "session"))
				return nil
			})
		},
	}
	sessions.AddCommand(list, revoke, revokeUser, extend, purge)
	return sessions
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// roughDuration prints d the way an operator reads it: 42s, 5m, 3h12m, 13d4h.
func roughDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		s = fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	if neg {
		return "-" + s
	}
	return s
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: want %d argument(s): %s", cmd.CommandPath(), n, cmd.Use)}
		}
		return nil
	}
}
