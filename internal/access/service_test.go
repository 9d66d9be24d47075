package access_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/access"
	"coffer/internal/audit"
	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/keyring"
	"coffer/internal/ledger"
	"coffer/internal/store/sqlstore"
	"coffer/internal/testdb"
)

// These tests drive access.Service against the real SQLite store, keyring
// and auth service, with an injected clock.

var t0 = time.Date(2030, time.June, 3, 9, 0, 0, 0, time.UTC)

const goodPassword = "saffron kettle orbit 3381"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	tb    testing.TB
	ctx   context.Context
	store *sqlstore.Store
	keys  *keyring.Envelope
	auth  *auth.Service
	svc   *access.Service
	clock *clock
	org   *access.Org
	owner *auth.User
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := tb.Context()
	st, err := testdb.Open(tb, filepath.Join(tb.TempDir(), "coffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	master := make([]byte, keyring.MasterKeySize)
	rand.Read(master)
	keys, err := keyring.OpenLocal(ctx, master, st)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := auth.DefaultConfig()
	cfg.Argon2 = auth.TestArgon2Params()
	as, err := auth.NewService(st, keys, keyring.AAD, auth.NewHashPool(2, 8, 8), cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	clk := &clock{now: t0}
	as.Now = clk.Now
	svc := access.NewService(st, as, keys, keyring.OrgAAD, log)
	svc.Now = clk.Now
	f := &fixture{tb: tb, ctx: ctx, store: st, keys: keys, auth: as, svc: svc, clock: clk}
	f.owner = f.user("owner@example.com")
	f.org = f.newOrg("Acme Ltd", f.owner)
	return f
}

func (f *fixture) user(email string) *auth.User {
	f.tb.Helper()
	local, _, _ := strings.Cut(email, "@")
	u := &auth.User{Email: email, Name: "Person " + local, PasswordHash: "x", CreatedAt: f.clock.Now()}
	if err := f.store.CreateUser(f.ctx, u); err != nil {
		f.tb.Fatal(err)
	}
	return u
}

func (f *fixture) newOrg(name string, owner *auth.User) *access.Org {
	f.tb.Helper()
	o := &access.Org{Name: name, Currency: "GBP", CreatedAt: f.clock.Now(), Settings: access.DefaultSettings()}
	if err := f.store.CreateOrg(f.ctx, o, owner.ID, ledger.DefaultTaxRates(), ledger.DefaultChart()); err != nil {
		f.tb.Fatal(err)
	}
	return o
}

// member creates a user with role in org.
func (f *fixture) member(org *access.Org, email string, role access.Role) *auth.User {
	f.tb.Helper()
	u := f.user(email)
	if err := f.store.AddMember(f.ctx, &access.Membership{OrgID: org.ID, UserID: u.ID, Role: role, CreatedAt: f.clock.Now()}); err != nil {
		f.tb.Fatal(err)
	}
	return u
}

func actor(u *auth.User) ledger.Actor {
	return ledger.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.7", UserAgent: "access_test"}
}

func (f *fixture) role(org *access.Org, u *auth.User) access.Role {
	f.tb.Helper()
	m, err := f.store.FindMembership(f.ctx, org.ID, u.ID)
	if errs.Code(err) == errs.ENOTFOUND {
		return ""
	}
	if err != nil {
		f.tb.Fatal(err)
	}
	return m.Role
}

func (f *fixture) events(action string) []*audit.Event {
	f.tb.Helper()
	all, err := f.store.FindAuditEvents(f.ctx, 0, 10000)
	if err != nil {
		f.tb.Fatal(err)
	}
	var out []*audit.Event
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func wantCode(tb testing.TB, err error, code string) *errs.Error {
	tb.Helper()
	if got := errs.Code(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	return errs.As(err)
}

func TestCheckRoleChange(t *testing.T) {
	const (
		O, A, S, I, R = access.Owner, access.Adviser, access.Standard, access.InvoiceOnly, access.ReadOnly
	)
	for _, tt := range []struct {
		name            string
		actor, from, to access.Role
		owners          int
		want            string
	}{
		{"OwnerPromotesToOwner", O, S, O, 1, ""},
		{"OwnerDemotesOtherOwner", O, O, A, 2, ""},
		{"AdviserChangesStandard", A, S, R, 1, ""},
		{"AdviserPromotesToAdviser", A, I, A, 1, ""},
		{"SameRoleOwner", A, O, O, 1, ""},
		{"ErrAdviserMakesOwner", A, S, O, 1, errs.EFORBIDDEN},
		{"ErrAdviserDemotesOwner", A, O, S, 3, errs.EFORBIDDEN},
		{"ErrLastOwnerDemoted", O, O, A, 1, errs.ECONFLICT},
		{"ErrStandardManages", S, R, I, 1, errs.EFORBIDDEN},
		{"ErrReadOnlyManages", R, R, S, 1, errs.EFORBIDDEN},
		{"ErrInvoiceOnlyManages", I, R, S, 1, errs.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.Code(access.CheckRoleChange(tt.actor, tt.from, tt.to, tt.owners)); got != tt.want {
				t.Errorf("code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckRemoval(t *testing.T) {
	for _, tt := range []struct {
		name          string
		actor, target access.Role
		owners        int
		want          string
	}{
		{"OwnerRemovesStandard", access.Owner, access.Standard, 1, ""},
		{"OwnerRemovesOwner", access.Owner, access.Owner, 2, ""},
		{"AdviserRemovesAdviser", access.Adviser, access.Adviser, 1, ""},
		{"ErrAdviserRemovesOwner", access.Adviser, access.Owner, 2, errs.EFORBIDDEN},
		{"ErrLastOwner", access.Owner, access.Owner, 1, errs.ECONFLICT},
		{"ErrStandard", access.Standard, access.ReadOnly, 1, errs.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.Code(access.CheckRemoval(tt.actor, tt.target, tt.owners)); got != tt.want {
				t.Errorf("code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckInvite(t *testing.T) {
	for _, tt := range []struct {
		name        string
		actor, role access.Role
		want        string
	}{
		{"OwnerInvitesOwner", access.Owner, access.Owner, ""},
		{"AdviserInvitesStandard", access.Adviser, access.Standard, ""},
		{"ErrAdviserInvitesOwner", access.Adviser, access.Owner, errs.EFORBIDDEN},
		{"ErrStandardInvites", access.Standard, access.ReadOnly, errs.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs.Code(access.CheckInvite(tt.actor, tt.role)); got != tt.want {
				t.Errorf("code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChangeRole(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t)
		bob := f.member(f.org, "bob@example.com", access.Standard)
		m, err := f.svc.ChangeRole(f.ctx, actor(f.owner), f.org.ID, bob.ID, access.Adviser)
		if err != nil {
			t.Fatal(err)
		}
		if m.Role != access.Adviser || m.Email != bob.Email {
			t.Errorf("answer = %+v", m)
		}
		if got := f.role(f.org, bob); got != access.Adviser {
			t.Errorf("stored role = %q", got)
		}
		evs := f.events("org.member.role_change")
		if len(evs) != 1 || evs[0].Subject != f.owner.Email || evs[0].Outcome != audit.Success ||
			!strings.Contains(evs[0].Detail, "from=standard to=adviser") || !strings.Contains(evs[0].Detail, "email=bob@example.com") {
			t.Errorf("audit = %+v", evs)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		f := newFixture(t)
		adv := f.member(f.org, "adv@example.com", access.Adviser)
		std := f.member(f.org, "std@example.com", access.Standard)
		other := f.newOrg("Other Ltd", f.user("boss@other.example"))
		outsider := f.member(other, "out@other.example", access.Owner)
		for _, tt := range []struct {
			name   string
			by     *auth.User
			orgID  int64
			target int64
			to     access.Role
			want   string
		}{
			{"AdviserMakesOwner", adv, f.org.ID, std.ID, access.Owner, errs.EFORBIDDEN},
			{"AdviserDemotesOwner", adv, f.org.ID, f.owner.ID, access.Standard, errs.EFORBIDDEN},
			{"LastOwnerDemotesSelf", f.owner, f.org.ID, f.owner.ID, access.Adviser, errs.ECONFLICT},
			{"StandardChangesRole", std, f.org.ID, adv.ID, access.ReadOnly, errs.EFORBIDDEN},
			{"UnknownRole", f.owner, f.org.ID, std.ID, "superuser", errs.EINVALID},
			{"NotAMember", f.owner, f.org.ID, outsider.ID, access.ReadOnly, errs.ENOTFOUND},
			{"ActorOfAnotherOrg", outsider, f.org.ID, std.ID, access.ReadOnly, errs.ENOTFOUND},
			{"MemberOfAnotherOrgViaOwnOrg", outsider, other.ID, std.ID, access.ReadOnly, errs.ENOTFOUND},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := f.svc.ChangeRole(f.ctx, actor(tt.by), tt.orgID, tt.target, tt.to)
				wantCode(t, err, tt.want)
			})
		}
		// Nothing changed.
		for u, want := range map[*auth.User]access.Role{f.owner: access.Owner, adv: access.Adviser, std: access.Standard} {
			if got := f.role(f.org, u); got != want {
				t.Errorf("%s is now %q, want %q", u.Email, got, want)
			}
		}
		if got := f.role(other, outsider); got != access.Owner {
			t.Errorf("outsider's own role = %q", got)
		}
	})

	t.Run("OwnerDemotesOwnerWhenAnotherRemains", func(t *testing.T) {
		f := newFixture(t)
		co := f.member(f.org, "co@example.com", access.Owner)
		if _, err := f.svc.ChangeRole(f.ctx, actor(co), f.org.ID, f.owner.ID, access.Adviser); err != nil {
			t.Fatal(err)
		}
		// co is now the last owner.
		_, err := f.svc.ChangeRole(f.ctx, actor(co), f.org.ID, co.ID, access.Standard)
		wantCode(t, err, errs.ECONFLICT)
	})
}

func TestRemoveMember(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t)
		bob := f.member(f.org, "bob@example.com", access.ReadOnly)
		other := f.newOrg("Bob's Own Ltd", bob)
		if err := f.svc.RemoveMember(f.ctx, actor(f.owner), f.org.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.role(f.org, bob); got != "" {
			t.Errorf("bob is still %q", got)
		}
		if got := f.role(other, bob); got != access.Owner {
			t.Errorf("bob's other organisation: role %q, want owner", got)
		}
		evs := f.events("org.member.remove")
		if len(evs) != 1 || !strings.Contains(evs[0].Detail, "email=bob@example.com role=read_only") {
			t.Errorf("audit = %+v", evs)
		}
		// Removing again: not found.
		wantCode(t, f.svc.RemoveMember(f.ctx, actor(f.owner), f.org.ID, bob.ID), errs.ENOTFOUND)
	})

	t.Run("Errors", func(t *testing.T) {
		f := newFixture(t)
		adv := f.member(f.org, "adv@example.com", access.Adviser)
		std := f.member(f.org, "std@example.com", access.Standard)
		other := f.newOrg("Other Ltd", f.user("boss@other.example"))
		outsider := f.member(other, "out@other.example", access.Owner)
		for _, tt := range []struct {
			name   string
			by     *auth.User
			target int64
			want   string
		}{
			{"AdviserRemovesOwner", adv, f.owner.ID, errs.EFORBIDDEN},
			{"LastOwnerRemovesSelf", f.owner, f.owner.ID, errs.ECONFLICT},
			{"StandardRemoves", std, adv.ID, errs.EFORBIDDEN},
			{"OutsiderRemoves", outsider, std.ID, errs.ENOTFOUND},
			{"RemoveOutsider", f.owner, outsider.ID, errs.ENOTFOUND},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantCode(t, f.svc.RemoveMember(f.ctx, actor(tt.by), f.org.ID, tt.target), tt.want)
			})
		}
		for _, u := range []*auth.User{f.owner, adv, std} {
			if f.role(f.org, u) == "" {
				t.Errorf("%s was removed", u.Email)
			}
		}
		if evs := f.events("org.member.remove"); len(evs) != 3 || evs[0].Outcome != audit.Failure {
			t.Errorf("audit = %+v, want the 3 refusals of the rules (not the not-founds)", evs)
		}
	})

	t.Run("AdviserRemovesSelf", func(t *testing.T) {
		f := newFixture(t)
		adv := f.member(f.org, "adv@example.com", access.Adviser)
		if err := f.svc.RemoveMember(f.ctx, actor(adv), f.org.ID, adv.ID); err != nil {
			t.Fatal(err)
		}
		if f.role(f.org, adv) != "" {
			t.Error("adviser still a member")
		}
	})
}

// TestLastOwner_Concurrent races two owners taking each other (or
// themselves) out: the owner count is read inside each change's
// transaction, so exactly one change wins and one owner always remains.
func TestLastOwner_Concurrent(t *testing.T) {
	type op func(f *fixture, a, b *auth.User) error
	remove := func(f *fixture, a, b *auth.User) error { return f.svc.RemoveMember(f.ctx, actor(a), f.org.ID, b.ID) }
	removeSelf := func(f *fixture, a, _ *auth.User) error { return f.svc.RemoveMember(f.ctx, actor(a), f.org.ID, a.ID) }
	demote := func(f *fixture, a, b *auth.User) error {
		_, err := f.svc.ChangeRole(f.ctx, actor(a), f.org.ID, b.ID, access.Standard)
		return err
	}
	demoteSelf := func(f *fixture, a, _ *auth.User) error {
		_, err := f.svc.ChangeRole(f.ctx, actor(a), f.org.ID, a.ID, access.ReadOnly)
		return err
	}
	for _, tt := range []struct {
		name string
		op   op
	}{
		{"RemoveEachOther", remove},
		{"RemoveSelves", removeSelf},
		{"DemoteEachOther", demote},
		{"DemoteSelves", demoteSelf},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 10 {
				f := newFixture(t)
				co := f.member(f.org, "co@example.com", access.Owner)
				start := make(chan struct{})
				errc := make(chan error, 2)
				var wg sync.WaitGroup
				for _, pair := range [][2]*auth.User{{f.owner, co}, {co, f.owner}} {
					wg.Go(func() {
						<-start
						errc <- tt.op(f, pair[0], pair[1])
					})
				}
				close(start)
				wg.Wait()
				close(errc)
				var ok, refused int
				for err := range errc {
					switch errs.Code(err) {
					case "":
						ok++
					case errs.ECONFLICT, errs.ENOTFOUND, errs.EFORBIDDEN:
						// The loser finds one owner left, or (acting on each
						// other) finds itself no longer a member or no
						// longer an owner.
						refused++
					default:
						t.Fatalf("round %d: unexpected error %v", round, err)
					}
				}
				var owners int
				if err := f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner'`, f.org.ID).Scan(&owners); err != nil {
					t.Fatal(err)
				}
				if ok != 1 || refused != 1 || owners != 1 {
					t.Fatalf("round %d: %d succeeded, %d refused, %d owners left; want 1, 1, 1", round, ok, refused, owners)
				}
			}
		})
	}
}

func TestMembers(t *testing.T) {
	f := newFixture(t)
	bob := f.member(f.org, "bob@example.com", access.ReadOnly)
	adv := f.member(f.org, "adv@example.com", access.Adviser)
	f.member(f.newOrg("Other Ltd", f.user("x@other.example")), "y@other.example", access.Standard)
	// bob has an authenticator app and 7 unused recovery codes (3 used).
	db := f.store.DB()
	if _, err := db.ExecContext(f.ctx, `INSERT INTO mfa_factors (user_id, secret_enc, confirmed, counter, created_at) VALUES (?, ?, 1, -1, 0)`, bob.ID, []byte{0}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		used := 0
		if i < 3 {
			used = 1
		}
		if _, err := db.ExecContext(f.ctx, `INSERT INTO recovery_codes (user_id, salt, hash, used_at) VALUES (?, ?, ?, ?)`, bob.ID, []byte{0}, []byte{0}, used); err != nil {
			t.Fatal(err)
		}
	}
	// adv has an unconfirmed factor only: no second factor yet.
	if _, err := db.ExecContext(f.ctx, `INSERT INTO mfa_factors (user_id, secret_enc, confirmed, counter, created_at) VALUES (?, ?, 0, -1, 0)`, adv.ID, []byte{0}); err != nil {
		t.Fatal(err)
	}
	login := t0.Add(2 * time.Hour)
	if err := f.store.SetLastLogin(f.ctx, bob.ID, login, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	ms, err := f.svc.Members(f.ctx, f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %s mfa=%v codes=%d login=%v", m.Email, m.Role, m.MFAMethods, m.RecoveryCodesLeft, !m.LastLoginAt.IsZero()))
	}
	want := []string{
		"owner@example.com owner mfa=[] codes=0 login=false",
		"adv@example.com adviser mfa=[] codes=0 login=false",
		"bob@example.com read_only mfa=[totp] codes=7 login=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("members:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !ms[2].LastLoginAt.Equal(login) || !ms[2].JoinedAt.Equal(t0) {
		t.Errorf("bob: last login %v joined %v", ms[2].LastLoginAt, ms[2].JoinedAt)
	}
}

func TestReviewFlags(t *testing.T) {
	now := t0
	day := 24 * time.Hour
	for _, tt := range []struct {
		name   string
		role   access.Role
		joined time.Duration // before now
		login  time.Duration // before now; 0: never
		want   []string
	}{
		{"ActiveOwner", access.Owner, 400 * day, day, nil},
		{"OwnerIdle31Days", access.Owner, 400 * day, 31 * day, []string{access.FlagAdminInactive30d}},
		{"AdviserIdle29Days", access.Adviser, 400 * day, 29 * day, nil},
		{"StandardIdle60Days", access.Standard, 400 * day, 60 * day, nil},
		{"StandardIdle91Days", access.Standard, 400 * day, 91 * day, []string{access.FlagInactive90d}},
		{"AdviserIdle91Days", access.Adviser, 400 * day, 91 * day, []string{access.FlagAdminInactive30d, access.FlagInactive90d}},
		{"NewMemberNeverSignedIn", access.ReadOnly, day, 0, []string{access.FlagNeverSignedIn}},
		{"OldMemberNeverSignedIn", access.ReadOnly, 100 * day, 0, []string{access.FlagInactive90d, access.FlagNeverSignedIn}},
		{"NewOwnerNeverSignedIn", access.Owner, 40 * day, 0, []string{access.FlagAdminInactive30d, access.FlagNeverSignedIn}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &access.Member{Role: tt.role, JoinedAt: now.Add(-tt.joined)}
			if tt.login != 0 {
				m.LastLoginAt = now.Add(-tt.login)
			}
			got := access.ReviewFlags(m, now)
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("flags = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAccessReview(t *testing.T) {
	f := newFixture(t)
	f.member(f.org, "=cmd|' /C calc'!A0@example.com", access.ReadOnly)
	bob := f.member(f.org, "bob@example.com", access.Adviser)
	if err := f.store.SetLastLogin(f.ctx, bob.ID, t0, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetLastLogin(f.ctx, f.owner.ID, t0.Add(95*24*time.Hour), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(100 * 24 * time.Hour)
	entries, err := f.svc.AccessReview(f.ctx, f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string][]string{}
	for _, e := range entries {
		flags[e.Email] = e.Flags
	}
	for email, want := range map[string][]string{
		"owner@example.com":              {},
		"bob@example.com":                {access.FlagAdminInactive30d, access.FlagInactive90d},
		"=cmd|' /C calc'!A0@example.com": {access.FlagInactive90d, access.FlagNeverSignedIn},
	} {
		if !slices.Equal(flags[email], want) {
			t.Errorf("%s: flags %v, want %v", email, flags[email], want)
		}
	}
	var b bytes.Buffer
	if err := access.WriteReviewCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], access.ReviewCSVHeader) || len(rows) != 4 {
		t.Fatalf("csv = %q", rows)
	}
	var found bool
	for _, r := range rows[1:] {
		if strings.Contains(r[0], "cmd") {
			found = true
			if r[0] != "'=cmd|' /C calc'!A0@example.com" {
				t.Errorf("formula cell = %q, want it quoted", r[0])
			}
			if r[7] != "inactive_90d never_signed_in" || r[5] != "" {
				t.Errorf("row = %q", r)
			}
		}
	}
	if !found {
		t.Error("no row for the formula email")
	}
}

func TestCSVSafe(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"Acme Ltd", "Acme Ltd"},
		{"=SUM(A1:A9)", "'=SUM(A1:A9)"},
		{"+44 20 7946 0000", "'+44 20 7946 0000"},
		{"-2+3", "'-2+3"},
		{"@SUM(1)", "'@SUM(1)"},
		{"\tcmd", "'\tcmd"},
		{"\r=x", "'\r=x"},
		{"-12.50", "-12.50"},
		{"-12", "-12"},
		{"-", "'-"},
		{"-.5", "'-.5"},
		{"-1.", "'-1."},
		{"1234.50", "1234.50"},
		{"a=b", "a=b"},
	} {
		if got := access.CSVSafe(tt.in); got != tt.want {
			t.Errorf("CSVSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUpdateSettings(t *testing.T) {
	m, h := time.Minute, time.Hour
	for _, tt := range []struct {
		name string
		st   access.Settings
		want string // "" for OK, else a phrase of the message
	}{
		{"OK", access.Settings{SessionIdle: 10 * m, SessionAbsolute: 8 * h, PasswordExpiryDays: 90, ForbidSMS: true, RequirePhishingResistant: true}, ""},
		{"OKBounds", access.Settings{SessionIdle: m, SessionAbsolute: h}, ""},
		{"OKUpperBounds", access.Settings{SessionIdle: 15 * m, SessionAbsolute: 12 * h, PasswordExpiryDays: 730}, ""},
		{"ErrIdleZero", access.Settings{SessionAbsolute: h}, "idle timeout"},
		{"ErrIdleTooLong", access.Settings{SessionIdle: 16 * m, SessionAbsolute: h}, "idle timeout"},
		{"ErrAbsoluteTooShort", access.Settings{SessionIdle: m, SessionAbsolute: 59 * m}, "absolute timeout"},
		{"ErrAbsoluteTooLong", access.Settings{SessionIdle: m, SessionAbsolute: 13 * h}, "absolute timeout"},
		{"ErrExpiryTooShort", access.Settings{SessionIdle: m, SessionAbsolute: h, PasswordExpiryDays: 29}, "Password expiry"},
		{"ErrExpiryTooLong", access.Settings{SessionIdle: m, SessionAbsolute: h, PasswordExpiryDays: 731}, "Password expiry"},
		{"ErrExpiryNegative", access.Settings{SessionIdle: m, SessionAbsolute: h, PasswordExpiryDays: -1}, "Password expiry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			err := f.svc.UpdateSettings(f.ctx, actor(f.owner), f.org.ID, tt.st)
			got, gerr := f.store.FindOrgByID(f.ctx, f.org.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.want != "" {
				if e := wantCode(t, err, errs.EINVALID); !strings.Contains(e.Message, tt.want) {
					t.Errorf("message = %q, want %q in it", e.Message, tt.want)
				}
				if got.Settings != access.DefaultSettings() {
					t.Errorf("settings changed to %+v", got.Settings)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Settings != tt.st {
				t.Errorf("stored %+v, want %+v", got.Settings, tt.st)
			}
			evs := f.events("org.settings.change")
			if len(evs) != 1 || !strings.Contains(evs[0].Detail, fmt.Sprintf("session_idle=15m0s->%s", tt.st.SessionIdle)) ||
				!strings.Contains(evs[0].Detail, fmt.Sprintf("password_expiry_days=0->%d", tt.st.PasswordExpiryDays)) {
				t.Errorf("audit = %+v", evs)
			}
		})
	}
	t.Run("ErrUnknownOrg", func(t *testing.T) {
		f := newFixture(t)
		wantCode(t, f.svc.UpdateSettings(f.ctx, actor(f.owner), f.org.ID+100, access.DefaultSettings()), errs.ENOTFOUND)
	})
}

func TestInvite(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFixture(t)
		inv, token, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, " New.Person@Example.COM ", access.Standard)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(token, access.InvitePrefix) || len(token) != len(access.InvitePrefix)+43 {
			t.Errorf("token %q: want cfi_ and 256 random bits", token)
		}
		if inv.Email != "new.person@example.com" || inv.Role != access.Standard || !inv.ExpiresAt.Equal(t0.Add(7*24*time.Hour)) {
			t.Errorf("invitation = %+v", inv)
		}
		// Only the SHA-256 of the token is stored.
		var stored []byte
		if err := f.store.DB().QueryRowContext(f.ctx, `SELECT token_hash FROM invitations WHERE id = ?`, inv.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(token))
		if !bytes.Equal(stored, sum[:]) {
			t.Error("stored token hash is not SHA-256 of the token")
		}
		var n int
		if err := f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM invitations WHERE CAST(token_hash AS TEXT) LIKE ?`, "%"+token[4:]+"%").Scan(&n); err != nil || n != 0 {
			t.Errorf("the token is stored in plain text (%d, %v)", n, err)
		}
		invs, err := f.svc.Invitations(f.ctx, f.org.ID)
		if err != nil || len(invs) != 1 || invs[0].ID != inv.ID {
			t.Fatalf("pending = %+v, %v", invs, err)
		}
		evs := f.events("org.invitation.create")
		if len(evs) != 1 || strings.Contains(evs[0].Detail, token) || !strings.Contains(evs[0].Detail, "role=standard") {
			t.Errorf("audit = %+v", evs)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		f := newFixture(t)
		adv := f.member(f.org, "adv@example.com", access.Adviser)
		std := f.member(f.org, "std@example.com", access.Standard)
		if _, _, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, "pending@example.com", access.ReadOnly); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name  string
			by    *auth.User
			role  access.Role
			email string
			as    access.Role
			want  string
		}{
			{"AdviserInvitesOwner", adv, access.Adviser, "x@example.com", access.Owner, errs.EFORBIDDEN},
			{"StandardInvites", std, access.Standard, "x@example.com", access.ReadOnly, errs.EFORBIDDEN},
			{"BadEmail", f.owner, access.Owner, "not-an-email", access.ReadOnly, errs.EINVALID},
			{"BadRole", f.owner, access.Owner, "x@example.com", "god", errs.EINVALID},
			{"AlreadyMember", f.owner, access.Owner, "STD@example.com", access.ReadOnly, errs.ECONFLICT},
			{"AlreadyInvited", adv, access.Adviser, "pending@example.com", access.Standard, errs.ECONFLICT},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := f.svc.Invite(f.ctx, actor(tt.by), tt.role, f.org.ID, tt.email, tt.as)
				wantCode(t, err, tt.want)
			})
		}
		invs, err := f.svc.Invitations(f.ctx, f.org.ID)
		if err != nil || len(invs) != 1 {
			t.Errorf("pending invitations = %d, %v; want only the first", len(invs), err)
		}
	})

	t.Run("ErrTooManyPending", func(t *testing.T) {
		f := newFixture(t)
		for i := range access.MaxPendingInvitations {
			if _, _, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, fmt.Sprintf("p%d@example.com", i), access.ReadOnly); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, "one-more@example.com", access.ReadOnly)
		wantCode(t, err, errs.ECONFLICT)
		// Expired ones do not count.
		f.clock.Advance(access.InvitationTTL)
		if _, _, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, "one-more@example.com", access.ReadOnly); err != nil {
			t.Errorf("after the others expired: %v", err)
		}
	})
}

func TestAcceptInvitation(t *testing.T) {
	c := auth.Client{IP: "198.51.100.4", UserAgent: "access_test"}
	invite := func(f *fixture, email string, role access.Role) string {
		f.tb.Helper()
		_, token, err := f.svc.Invite(f.ctx, actor(f.owner), access.Owner, f.org.ID, email, role)
		if err != nil {
			f.tb.Fatal(err)
		}
		return token
	}

	t.Run("NewUser", func(t *testing.T) {
		f := newFixture(t)
		token := invite(f, "new@example.com", access.Standard)
		v, err := f.svc.OpenInvitation(f.ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if v.OrgName != "Acme Ltd" || v.AccountExists || v.Invitation.Role != access.Standard {
			t.Errorf("view = %+v", v)
		}
		u, org, err := f.svc.AcceptAsNewUser(f.ctx, token, "New Person", goodPassword, goodPassword, c)
		if err != nil {
			t.Fatal(err)
		}
		if org.ID != f.org.ID || u.Email != "new@example.com" || u.IsAdmin {
			t.Errorf("user %+v org %+v", u, org)
		}
		if got := f.role(f.org, u); got != access.Standard {
			t.Errorf("role = %q", got)
		}
		// The account signs in with that password and must enroll a factor.
		res, err := f.auth.Login(f.ctx, "new@example.com", goodPassword, c)
		if err != nil || res.Status != "mfa_enrollment_required" {
			t.Errorf("login = %+v, %v", res, err)
		}
		// Single use.
		for _, err := range []error{
			func() error { _, err := f.svc.OpenInvitation(f.ctx, token); return err }(),
			func() error {
				_, _, err := f.svc.AcceptAsNewUser(f.ctx, token, "Someone Else", goodPassword, goodPassword, c)
				return err
			}(),
			func() error { _, err := f.svc.AcceptAsUser(f.ctx, token, u, c); return err }(),
		} {
			if !errors.Is(err, access.ErrInvitationInvalid) {
				t.Errorf("reuse: %v, want ErrInvitationInvalid", err)
			}
		}
		var accepted, refused int
		for _, e := range f.events("org.invitation.accept") {
			switch {
			case e.Outcome == audit.Success && e.UserID == u.ID:
				accepted++
			case e.Outcome == audit.Failure && e.Detail == "reason=invalid_or_used_link":
				refused++
			}
		}
		if accepted != 1 || refused != 2 || len(f.events("user.create")) != 1 {
			t.Errorf("audit: %d accepted, %d refused reuses, %d user.create; want 1, 2, 1", accepted, refused, len(f.events("user.create")))
		}
		if invs, _ := f.svc.Invitations(f.ctx, f.org.ID); len(invs) != 0 {
			t.Errorf("accepted invitation still pending: %+v", invs)
		}
	})

	t.Run("NewUserRefused", func(t *testing.T) {
		for _, tt := range []struct {
			name, uname, password, confirm, want string
		}{
			{"Mismatch", "New Person", goodPassword, goodPassword + "x", "do not match"},
			{"WeakPassword", "New Person", "password1234", "password1234", "commonly used"},
			{"NoName", " ", goodPassword, goodPassword, "name of 1 to 200"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := newFixture(t)
				token := invite(f, "new@example.com", access.ReadOnly)
				_, _, err := f.svc.AcceptAsNewUser(f.ctx, token, tt.uname, tt.password, tt.confirm, c)
				if e := wantCode(t, err, errs.EINVALID); !strings.Contains(e.Message, tt.want) {
					t.Errorf("message = %q", e.Message)
				}
				if _, err := f.store.FindUserByEmail(f.ctx, "new@example.com"); errs.Code(err) != errs.ENOTFOUND {
					t.Errorf("a user was created: %v", err)
				}
				// The invitation still works.
				if _, err := f.svc.OpenInvitation(f.ctx, token); err != nil {
					t.Errorf("invitation no longer pending: %v", err)
				}
			})
		}
	})

	t.Run("ExistingUser", func(t *testing.T) {
		f := newFixture(t)
		other := f.newOrg("Other Ltd", f.user("boss@other.example"))
		carol := f.member(other, "carol@example.com", access.Standard)
		mallory := f.user("mallory@example.com")
		token := invite(f, "carol@example.com", access.Adviser)
		v, err := f.svc.OpenInvitation(f.ctx, token)
		if err != nil || !v.AccountExists {
			t.Fatalf("view = %+v, %v", v, err)
		}
		// An existing account cannot be re-registered through the link.
		_, _, err = f.svc.AcceptAsNewUser(f.ctx, token, "Carol Two", goodPassword, goodPassword, c)
		wantCode(t, err, errs.ECONFLICT)
		// The wrong person cannot accept.
		_, err = f.svc.AcceptAsUser(f.ctx, token, mallory, c)
		wantCode(t, err, errs.EFORBIDDEN)
		if f.role(f.org, mallory) != "" {
			t.Fatal("mallory joined")
		}
		if evs := f.events("org.invitation.accept"); len(evs) != 1 || evs[0].Outcome != audit.Failure || evs[0].Detail != fmt.Sprintf("org=%d invitation=%d reason=wrong_email", f.org.ID, v.Invitation.ID) {
			t.Errorf("audit = %+v", evs)
		}
		org, err := f.svc.AcceptAsUser(f.ctx, token, carol, c)
		if err != nil {
			t.Fatal(err)
		}
		if org.ID != f.org.ID || f.role(f.org, carol) != access.Adviser || f.role(other, carol) != access.Standard {
			t.Errorf("carol: org %d role %q / %q", org.ID, f.role(f.org, carol), f.role(other, carol))
		}
		_, err = f.svc.AcceptAsUser(f.ctx, token, carol, c)
		if !errors.Is(err, access.ErrInvitationInvalid) {
			t.Errorf("second accept: %v", err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		f := newFixture(t)
		token := invite(f, "late@example.com", access.ReadOnly)
		f.clock.Advance(access.InvitationTTL - time.Second)
		if _, err := f.svc.OpenInvitation(f.ctx, token); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		f.clock.Advance(time.Second)
		_, err := f.svc.OpenInvitation(f.ctx, token)
		if !errors.Is(err, access.ErrInvitationInvalid) {
			t.Errorf("at expiry: %v", err)
		}
		_, _, err = f.svc.AcceptAsNewUser(f.ctx, token, "Late Person", goodPassword, goodPassword, c)
		if !errors.Is(err, access.ErrInvitationInvalid) {
			t.Errorf("accept at expiry: %v", err)
		}
		if invs, _ := f.svc.Invitations(f.ctx, f.org.ID); len(invs) != 0 {
			t.Errorf("expired invitation listed as pending")
		}
	})

	t.Run("Revoked", func(t *testing.T) {
		f := newFixture(t)
		token := invite(f, "gone@example.com", access.ReadOnly)
		v, err := f.svc.OpenInvitation(f.ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		otherOwner := f.user("boss@other.example")
		other := f.newOrg("Other Ltd", otherOwner)
		// Another organisation cannot revoke it: not found.
		wantCode(t, f.svc.RevokeInvitation(f.ctx, actor(otherOwner), other.ID, v.Invitation.ID), errs.ENOTFOUND)
		if err := f.svc.RevokeInvitation(f.ctx, actor(f.owner), f.org.ID, v.Invitation.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.OpenInvitation(f.ctx, token); !errors.Is(err, access.ErrInvitationInvalid) {
			t.Errorf("revoked: %v", err)
		}
		wantCode(t, f.svc.RevokeInvitation(f.ctx, actor(f.owner), f.org.ID, v.Invitation.ID), errs.ENOTFOUND)
	})

	t.Run("UnknownTokens", func(t *testing.T) {
		f := newFixture(t)
		for _, tok := range []string{"", "cfi_", "cfi_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cfs_notaninvitation", strings.Repeat("cfi_x", 100)} {
			if _, err := f.svc.OpenInvitation(f.ctx, tok); !errors.Is(err, access.ErrInvitationInvalid) {
				t.Errorf("token %q: %v", tok, err)
			}
		}
	})

	t.Run("ConcurrentAcceptOnce", func(t *testing.T) {
		f := newFixture(t)
		token := invite(f, "race@example.com", access.ReadOnly)
		var wg sync.WaitGroup
		errc := make(chan error, 4)
		for i := range 4 {
			wg.Go(func() {
				_, _, err := f.svc.AcceptAsNewUser(f.ctx, token, fmt.Sprintf("Racer %d", i), goodPassword, goodPassword, c)
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		ok := 0
		for err := range errc {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, access.ErrInvitationInvalid), errs.Code(err) == errs.ECONFLICT:
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		var users, members int
		f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM users WHERE email = 'race@example.com'`).Scan(&users)
		f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = ?`, f.org.ID).Scan(&members)
		if ok != 1 || users != 1 || members != 2 {
			t.Errorf("%d accepted, %d users, %d members; want 1, 1, 2", ok, users, members)
		}
	})
}

// sealContact stores a contact with sealed bank details and tax number,
// bound to its organisation and row as the sales code seals them.
func (f *fixture) sealContact(org *access.Org, name, bank, tax string) int64 {
	f.tb.Helper()
	db := f.store.DB()
	id, err := db.InsertID(f.ctx, `INSERT INTO contacts (org_id, name, email, is_customer, is_supplier, created_at, updated_at) VALUES (?, ?, '', 1, 0, ?, ?)`,
		org.ID, name, t0.Unix(), t0.Unix())
	if err != nil {
		f.tb.Fatal(err)
	}
	var bankEnc, taxEnc []byte
	if bank != "" {
		if bankEnc, err = f.keys.Seal(f.ctx, org.ID, []byte(bank), keyring.OrgAAD(org.ID, "contacts", "bank_details", id)); err != nil {
			f.tb.Fatal(err)
		}
	}
	if tax != "" {
		if taxEnc, err = f.keys.Seal(f.ctx, org.ID, []byte(tax), keyring.OrgAAD(org.ID, "contacts", "tax_number", id)); err != nil {
			f.tb.Fatal(err)
		}
	}
	if _, err := db.ExecContext(f.ctx, `UPDATE contacts SET bank_details_enc = ?, tax_number_enc = ? WHERE id = ?`, bankEnc, taxEnc, id); err != nil {
		f.tb.Fatal(err)
	}
	return id
}

// books puts some of everything into the organisation: contacts, a posted
// manual journal, an invoice with a line and a payment, a bank line.
func (f *fixture) books(org *access.Org, owner *auth.User) {
	f.tb.Helper()
	led := ledger.NewService(f.store, f.keys, keyring.OrgAAD, slog.New(slog.NewTextHandler(io.Discard, nil)))
	led.Now = f.clock.Now
	accts, err := f.store.FindAccounts(f.ctx, org.ID)
	if err != nil {
		f.tb.Fatal(err)
	}
	code := map[string]int64{}
	for _, a := range accts {
		code[a.Code] = a.ID
	}
	j := &ledger.Journal{OrgID: org.ID, Date: "2030-05-01", Narration: "=HYPERLINK(\"http://evil\")", Lines: []ledger.JournalLine{
		{AccountID: code["1000"], Debit: 123450},
		{AccountID: code["4000"], Credit: 123450},
	}}
	if err := led.PostManualJournal(f.ctx, ledger.Actor{UserID: owner.ID, Email: owner.Email}, j); err != nil {
		f.tb.Fatal(err)
	}
	contact := f.sealContact(org, "Globex", "GB29 NWBK 6016 1331 9268 19", "GB123456789")
	f.sealContact(org, "=cmd()", "", "")
	db := f.store.DB()
	inv, err := db.InsertID(f.ctx, `INSERT INTO invoices (org_id, kind, number, contact_id, date, due_date, status, subtotal, tax_total, total, amount_paid, journal_id, created_at, updated_at)
		VALUES (?, 'sales', 'INV-0001', ?, '2030-05-02', '2030-06-01', 'paid', 10000, 2000, 12000, 12000, ?, 0, 0)`, org.ID, contact, j.ID)
	if err != nil {
		f.tb.Fatal(err)
	}
	if _, err := db.ExecContext(f.ctx, `INSERT INTO invoice_lines (invoice_id, org_id, position, description, quantity, unit_price, account_id, tax_rate_bp, line_amount, tax_amount)
		VALUES (?, ?, 1, 'Widgets', 25000, 4000, ?, 2000, 10000, 2000)`, inv, org.ID, code["4000"]); err != nil {
		f.tb.Fatal(err)
	}
	var bank int64
	if err := db.QueryRowContext(f.ctx, `SELECT id FROM bank_accounts WHERE org_id = ?`, org.ID).Scan(&bank); err != nil {
		f.tb.Fatal(err)
	}
	if _, err := db.ExecContext(f.ctx, `UPDATE bank_accounts SET account_number_enc = ?, number_last4 = '4321' WHERE id = ?`, []byte{0xde, 0xad, 0xbe, 0xef}, bank); err != nil {
		f.tb.Fatal(err)
	}
	if _, err := db.ExecContext(f.ctx, `INSERT INTO payments (org_id, invoice_id, bank_account_id, date, amount, journal_id, created_at) VALUES (?, ?, ?, '2030-05-03', 12000, ?, 0)`,
		org.ID, inv, bank, j.ID); err != nil {
		f.tb.Fatal(err)
	}
	if _, err := db.ExecContext(f.ctx, `INSERT INTO bank_transactions (org_id, bank_account_id, date, amount, description, fit_id, created_at) VALUES (?, ?, '2030-05-04', -4599, 'Fee', 'x1', 0)`,
		org.ID, bank); err != nil {
		f.tb.Fatal(err)
	}
}

func readZip(tb testing.TB, b []byte) map[string][][]string {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatalf("open zip: %v", err)
	}
	out := map[string][][]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			tb.Fatal(err)
		}
		rows, err := csv.NewReader(rc).ReadAll()
		rc.Close()
		if err != nil {
			tb.Fatalf("%s: %v", zf.Name, err)
		}
		out[zf.Name] = rows
	}
	return out
}

// column returns the named column of a CSV table (header first).
func column(tb testing.TB, rows [][]string, name string) []string {
	tb.Helper()
	i := slices.Index(rows[0], name)
	if i < 0 {
		tb.Fatalf("no column %q in %q", name, rows[0])
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[i])
	}
	return out
}

var exportFiles = []string{"orgs.csv", "accounts.csv", "tax_rates.csv", "contacts.csv", "invoices.csv", "invoice_lines.csv", "payments.csv",
	"credit_allocations.csv", "journals.csv", "journal_lines.csv", "bank_accounts.csv", "bank_transactions.csv", "members.csv"}

func TestExport(t *testing.T) {
	f := newFixture(t)
	f.member(f.org, "bob@example.com", access.Standard)
	f.books(f.org, f.owner)
	otherOwner := f.user("boss@other.example")
	other := f.newOrg("Other Ltd", otherOwner)
	f.books(other, otherOwner)
	f.sealContact(other, "Other's secret contact", "OTHER BANK 999", "")

	t.Run("Zip", func(t *testing.T) {
		var b bytes.Buffer
		counts, err := f.svc.Export(f.ctx, actor(f.owner), f.org, "zip", &b)
		if err != nil {
			t.Fatal(err)
		}
		files := readZip(t, b.Bytes())
		var names []string
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		want := slices.Clone(exportFiles)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("files = %v, want %v", names, want)
		}
		for _, c := range counts {
			if got := len(files[c.Table+".csv"]) - 1; got != c.Rows {
				t.Errorf("%s: %d rows in the file, count says %d", c.Table, got, c.Rows)
			}
		}
		var accounts int
		f.store.DB().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM accounts WHERE org_id = ?`, f.org.ID).Scan(&accounts)
		for table, want := range map[string]int{"orgs.csv": 1, "accounts.csv": accounts, "contacts.csv": 2, "journals.csv": 1, "journal_lines.csv": 2,
			"invoices.csv": 1, "invoice_lines.csv": 1, "payments.csv": 1, "bank_accounts.csv": 1, "bank_transactions.csv": 1, "members.csv": 2, "credit_allocations.csv": 0} {
			if got := len(files[table]) - 1; got != want {
				t.Errorf("%s: %d rows, want %d (only this organisation's)", table, got, want)
			}
		}
		if got := column(t, files["contacts.csv"], "bank_details"); !slices.Equal(got, []string{"GB29 NWBK 6016 1331 9268 19", ""}) {
			t.Errorf("bank details = %q, want them opened", got)
		}
		if got := column(t, files["contacts.csv"], "tax_number"); got[0] != "GB123456789" {
			t.Errorf("tax number = %q", got)
		}
		if got := column(t, files["contacts.csv"], "name"); got[1] != "'=cmd()" {
			t.Errorf("formula name = %q, want it defused", got[1])
		}
		if got := column(t, files["journals.csv"], "narration"); !strings.HasPrefix(got[0], "'=HYPERLINK") {
			t.Errorf("narration = %q", got)
		}
		if got := column(t, files["journal_lines.csv"], "debit"); !slices.Equal(got, []string{"1234.50", "0.00"}) {
			t.Errorf("debits = %q, want decimal strings", got)
		}
		if got := column(t, files["bank_transactions.csv"], "amount"); got[0] != "-45.99" {
			t.Errorf("bank amount = %q, want a plain negative number", got)
		}
		if got := column(t, files["invoice_lines.csv"], "quantity"); got[0] != "2.5" {
			t.Errorf("quantity = %q", got)
		}
		if got := column(t, files["invoices.csv"], "total"); got[0] != "120.00" {
			t.Errorf("total = %q", got)
		}
		if got := files["bank_accounts.csv"][0]; slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "enc") || c == "account_number" }) {
			t.Errorf("bank_accounts columns %q include the sealed number", got)
		}
		if got := column(t, files["bank_accounts.csv"], "number_last4"); got[0] != "4321" {
			t.Errorf("last4 = %q", got)
		}
		if bytes.Contains(b.Bytes(), []byte("OTHER BANK")) || bytes.Contains(b.Bytes(), []byte("boss@other")) {
			t.Error("export holds another organisation's data")
		}
		evs := f.events("org.export")
		last := evs[len(evs)-1]
		if last.Outcome != audit.Success || !strings.Contains(last.Detail, "format=zip") || !strings.Contains(last.Detail, "contacts:2") || strings.Contains(last.Detail, "GB29") {
			t.Errorf("audit = %+v", last)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		var b bytes.Buffer
		counts, err := f.svc.Export(f.ctx, actor(f.owner), f.org, "json", &b)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Format   string                      `json:"format"`
			Currency string                      `json:"currency"`
			Tables   map[string][]map[string]any `json:"tables"`
			Counts   map[string]int              `json:"counts"`
		}
		dec := json.NewDecoder(&b)
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if doc.Format != "coffer-export" || doc.Currency != "GBP" || len(doc.Tables) != len(exportFiles) {
			t.Fatalf("doc: format %q currency %q tables %d", doc.Format, doc.Currency, len(doc.Tables))
		}
		for _, c := range counts {
			if len(doc.Tables[c.Table]) != c.Rows || doc.Counts[c.Table] != c.Rows {
				t.Errorf("%s: %d rows, counts %d / %d", c.Table, len(doc.Tables[c.Table]), c.Rows, doc.Counts[c.Table])
			}
		}
		line := doc.Tables["journal_lines"][0]
		if line["debit"] != "1234.50" || line["credit"] != "0.00" {
			t.Errorf("journal line = %v, want amounts as decimal strings", line)
		}
		if _, ok := line["id"].(json.Number); !ok {
			t.Errorf("id = %#v, want a number", line["id"])
		}
		c := doc.Tables["contacts"]
		if c[0]["bank_details"] != "GB29 NWBK 6016 1331 9268 19" || c[1]["bank_details"] != nil || c[0]["is_customer"] != true {
			t.Errorf("contacts = %v", c)
		}
		if c[1]["name"] != "=cmd()" {
			t.Errorf("JSON is data, not a spreadsheet: name = %v", c[1]["name"])
		}
	})

	t.Run("ErrFormat", func(t *testing.T) {
		_, err := f.svc.Export(f.ctx, actor(f.owner), f.org, "xlsx", io.Discard)
		wantCode(t, err, errs.EINVALID)
	})

	t.Run("ErrSealedValueDoesNotOpen", func(t *testing.T) {
		g := newFixture(t)
		a := g.sealContact(g.org, "A", "BANK A 1111", "")
		b := g.sealContact(g.org, "B", "BANK B 2222", "")
		// Move A's ciphertext onto B's row: bound to row A, it must not
		// open as B's, and the export must fail, not leave B out.
		if _, err := g.store.DB().ExecContext(g.ctx, `UPDATE contacts SET bank_details_enc = (SELECT bank_details_enc FROM contacts WHERE id = ?) WHERE id = ?`, a, b); err != nil {
			t.Fatal(err)
		}
		for _, format := range access.ExportFormats {
			var out bytes.Buffer
			_, err := g.svc.Export(g.ctx, actor(g.owner), g.org, format, &out)
			if errs.Code(err) != errs.EINTERNAL {
				t.Errorf("%s: err = %v, want an internal error", format, err)
			}
			if bytes.Contains(out.Bytes(), []byte("BANK A 1111")) && format == "json" && strings.Count(out.String(), "BANK A 1111") > 1 {
				t.Errorf("%s: row A's value appeared as B's", format)
			}
		}
		evs := g.events("org.export")
		if len(evs) != 2 || evs[0].Outcome != audit.Failure {
			t.Errorf("audit = %+v, want two failures", evs)
		}
	})
}
