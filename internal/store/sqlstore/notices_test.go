package sqlstore_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"coffer/internal/auth"
	"coffer/internal/errs"
	"coffer/internal/notices"
)

func TestNotices(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		op := mustUser(t, s, "op@example.com")
		reader := mustUser(t, s, "reader@example.com")
		old := &notices.Notice{Kind: notices.KindInfo, Title: "Old", Body: "b", PublishedAt: t0.Add(-time.Hour), CreatedAt: t0, CreatedBy: op.ID}
		due := &notices.Notice{Kind: notices.KindActionRequired, Title: "Passkeys", Body: "b", DueAt: t0.Add(72 * time.Hour), PublishedAt: t0, CreatedAt: t0, CreatedBy: op.ID}
		later := &notices.Notice{Kind: notices.KindWarning, Title: "Scheduled", Body: "b", PublishedAt: t0.Add(time.Hour), CreatedAt: t0, CreatedBy: op.ID}
		for _, n := range []*notices.Notice{old, due, later} {
			if err := s.CreateNotice(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("ErrInvalid kind without due date refused by the schema", func(t *testing.T) {
			bad := &notices.Notice{Kind: notices.KindActionRequired, Title: "x", Body: "b", PublishedAt: t0, CreatedAt: t0}
			if err := s.CreateNotice(ctx, bad); err == nil {
				t.Fatal("an action_required notice without a due date was stored")
			}
		})
		t.Run("published only, newest first, unread", func(t *testing.T) {
			got, err := s.FindNotices(ctx, reader.ID, t0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].ID != due.ID || got[1].ID != old.ID || got[0].Read || got[1].Read {
				t.Fatalf("notices = %+v", got)
			}
			if !got[0].DueAt.Equal(due.DueAt) || got[0].Kind != notices.KindActionRequired {
				t.Errorf("due notice = %+v", got[0])
			}
		})
		t.Run("ErrNotFound marking a scheduled notice", func(t *testing.T) {
			if err := s.MarkNoticeRead(ctx, reader.ID, later.ID, t0); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v, want not found", err)
			}
			if err := s.MarkNoticeRead(ctx, reader.ID, 9999, t0); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v, want not found", err)
			}
		})
		t.Run("read is per user and idempotent", func(t *testing.T) {
			for range 2 {
				if err := s.MarkNoticeRead(ctx, reader.ID, due.ID, t0); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := s.FindNotices(ctx, reader.ID, t0, 10)
			if !got[0].Read || got[1].Read {
				t.Fatalf("reader's read state = %t %t, want true false", got[0].Read, got[1].Read)
			}
			got, _ = s.FindNotices(ctx, op.ID, t0, 10)
			if got[0].Read {
				t.Fatal("another user's read mark showed for the operator")
			}
			got, _ = s.FindNotices(ctx, 0, t0.Add(2*time.Hour), 10)
			if len(got) != 3 || got[0].ID != later.ID || got[0].Read {
				t.Fatalf("feed at a later time = %+v", got)
			}
		})
	})
}

func TestVulnReports(t *testing.T) {
	eachEngine(t, func(t *testing.T) {
		s := mustStore(t)
		ctx := t.Context()
		mustUser(t, s, "user@example.com")
		admin := &auth.User{Email: "admin@example.com", Name: "Admin", PasswordHash: "x", IsAdmin: true, CreatedAt: t0}
		if err := s.CreateUser(ctx, admin); err != nil {
			t.Fatal(err)
		}
		var seen []int64
		id, err := s.CreateVulnReport(ctx, t0, func(id int64) ([]byte, error) {
			seen = append(seen, id)
			return []byte("sealed-bytes"), nil
		})
		if err != nil || len(seen) != 1 || seen[0] != id {
			t.Fatalf("create = %d, %v; seal saw %v", id, err, seen)
		}
		t.Run("seal failure stores nothing", func(t *testing.T) {
			boom := errors.New("boom")
			if _, err := s.CreateVulnReport(ctx, t0, func(int64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			all, _ := s.FindVulnReports(ctx, 10)
			if len(all) != 1 {
				t.Fatalf("reports = %d, want 1", len(all))
			}
		})
		t.Run("OK", func(t *testing.T) {
			r, err := s.FindVulnReport(ctx, id)
			if err != nil || !bytes.Equal(r.BodyEnc, []byte("sealed-bytes")) || !r.ReceivedAt.Equal(t0) {
				t.Fatalf("report = %+v, %v", r, err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			if _, err := s.FindVulnReport(ctx, id+1); errs.Code(err) != errs.ENOTFOUND {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("operators", func(t *testing.T) {
			ops, err := s.FindOperators(ctx)
			if err != nil || len(ops) != 1 || ops[0].ID != admin.ID || !ops[0].IsAdmin {
				t.Fatalf("operators = %+v, %v", ops, err)
			}
		})
	})
}
