// Package demo is what `sessionmon demo` runs besides the server and the
// dashboard: seed data (demo users of several roles) and a traffic
// simulator of virtual users who log in, browse, idle and log out over real
// HTTP against the login server, and notice when an operator forces them out.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"sessionmon/sessionlogic"
)

// Account is a demo user's credentials, as the simulator uses them.
type Account struct {
	Username string
	Password string
	Role     string
}

// The well-known account a person can try in a browser. Seed always creates
// it first. `sessionmon demo` prints it; pass Seed's accounts without it
// (accounts[1:]) to the simulator so a person's own session is left alone.
const (
	DemoUsername = "alice"
	DemoPassword = "wonderland"
)

// SeedOperator is the actor recorded in the audit table for seeded users.
const SeedOperator = "demo-seed"

// people are the demo users' names, in seeding order. Usernames are the
// lower-cased first name (plus a number after the first round).
var people = [...]struct{ first, last string }{
	{"Alice", "Martin"}, {"Bob", "Chen"}, {"Carol", "Okafor"}, {"David", "Kim"},
	{"Erin", "Walsh"}, {"Farah", "Haddad"}, {"Gabriel", "Silva"}, {"Hana", "Suzuki"},
	{"Ines", "Moreau"}, {"Jamal", "Wright"}, {"Kira", "Novak"}, {"Luis", "Ortega"},
	{"Maya", "Patel"}, {"Nils", "Berg"}, {"Olivia", "Brown"}, {"Priya", "Nair"},
	{"Quentin", "Dubois"}, {"Rosa", "Jimenez"}, {"Samir", "Aziz"}, {"Tara", "Byrne"},
	{"Umar", "Farouk"}, {"Vera", "Ivanova"}, {"Wei", "Zhang"}, {"Ximena", "Cruz"},
	{"Yusuf", "Demir"}, {"Zoe", "Fischer"}, {"Aiko", "Tanaka"}, {"Bruno", "Costa"},
	{"Chloe", "Dupont"}, {"Dmitri", "Volkov"}, {"Elena", "Rossi"}, {"Felix", "Wagner"},
	{"Grace", "Mensah"}, {"Hugo", "Lambert"}, {"Isla", "Murray"}, {"Jonas", "Lindqvist"},
	{"Kofi", "Asante"}, {"Lena", "Schmidt"}, {"Mateo", "Garcia"}, {"Nora", "Haugen"},
}

// roles cycle over the seeded users: a couple of admins, more staff and
// editors, most viewers, some support and an auditor, so the dashboard has
// several roles to colour and count. Any five consecutive users cover five roles.
var roles = [...]string{
	"admin", "staff", "editor", "viewer", "support",
	"viewer", "editor", "staff", "viewer", "auditor",
}

// accountFor returns the i-th demo user (0-based). It is deterministic, so
// seeding twice asks for the same users.
func accountFor(i int) (sessionlogic.NewUser, Account) {
	p := people[i%len(people)]
	round := i / len(people)
	first, last := p.first, p.last
	username := strings.ToLower(first)
	if round > 0 {
		// Later rounds pair first names with other last names.
		last = people[(i+7*round)%len(people)].last
		username += strconv.Itoa(round + 1)
	}
	role := roles[i%len(roles)]
	password := username + "-demo-pass"
	if i == 0 {
		role, password = "admin", DemoPassword
	}
	local := strings.ToLower(first + "." + last)
	if round > 0 {
		local += strconv.Itoa(round + 1)
	}
	nu := sessionlogic.NewUser{
		Username: username,
		Password: password,
		Email:    local + "@example.com",
		FullName: first + " " + last,
		Role:     role,
	}
	return nu, Account{Username: username, Password: password, Role: role}
}

// Seed creates n demo users of several roles (the first is DemoUsername)
// and returns their accounts, in a fixed order. It is idempotent: a user
// that already exists is kept as it is (its role is reported as stored, and
// the simulator's login fails if its password was changed).
//
// Passwords are hashed at the Manager's bcrypt cost (Options.PasswordCost).
// At the default cost one hash takes tens of milliseconds, so users are
// created concurrently, GOMAXPROCS at a time: 40 users take about a second
// on two cores, less on more. Existing users are looked up first and cost
// no hashing, so seeding an existing --db again is quick.
func Seed(ctx context.Context, m *sessionlogic.Manager, n int) ([]Account, error) {
	if n < 1 {
		return nil, fmt.Errorf("demo: seed %d users: want at least 1", n)
	}
	accounts := make([]Account, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			accounts[i], errs[i] = seedOne(ctx, m, i)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("demo: seed: %w", err)
	}
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		return nil, fmt.Errorf("demo: seed: %d of %d users failed, first: %w", failed, n, first)
	}
	return accounts, nil
}

func seedOne(ctx context.Context, m *sessionlogic.Manager, i int) (Account, error) {
	nu, acct := accountFor(i)
	u, err := m.User(ctx, nu.Username)
	if err == nil {
		acct.Role = u.Role
		return acct, nil
	}
	if !errors.Is(err, sessionlogic.ErrNotFound) {
		return Account{}, fmt.Errorf("look up %q: %w", nu.Username, err)
	}
	_, err = m.AddUser(ctx, SeedOperator, nu)
	if errors.Is(err, sessionlogic.ErrConflict) {
		// Created meanwhile by someone else: keep theirs.
		if u, err := m.User(ctx, nu.Username); err == nil {
			acct.Role = u.Role
		}
		return acct, nil
	}
	if err != nil {
		return Account{}, err
	}
	return acct, nil
}
