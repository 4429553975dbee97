package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/runnel/runnel/internal/bus"
	"github.com/runnel/runnel/internal/event"
	"github.com/runnel/runnel/internal/model"
)

// maxDamagedShown bounds the damaged messages listed one by one.
const maxDamagedShown = 20

func (a *app) bufferCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "buffer",
		Short: "Inspect the embedded store",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.bufferVerifyCmd())
	return cmd
}

func (a *app) bufferVerifyCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "verify [--data-dir DIR]",
		Short: "Check the embedded store offline and report what it holds",
		Long: `Open the embedded store of a stopped server (JetStream recovers it by
itself, as the server would), report every stream buffer (messages, bytes,
sequences, each destination's pending and ack-pending), the configuration
bucket, dead letters and activity, and read every buffered message to check
it is a well-formed frame: its headers are present, its event count matches
its lines, and each line is a JSON object.

Exits non-zero if anything is damaged. The server must be stopped: two
processes must never open one store.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data", "data directory of the server")
	setEnv(cmd.Flags(), "data-dir", "RUNNEL_DATA_DIR")
	cmd.RunE = a.run(func(cmd *cobra.Command, _ []string) error {
		rep, err := verifyBuffer(cmd.Context(), dataDir, a.stdout)
		if err != nil {
			return err
		}
		if rep.damaged > 0 {
			fmt.Fprintf(a.stderr, "error: %d damaged message(s) in the store at %s\n", rep.damaged, dataDir)
			return errReported
		}
		return nil
	})
	return cmd
}

// verifyReport sums up a buffer check.
type verifyReport struct {
	streams, messages, events, damaged int
}

// verifyBuffer opens the store under dataDir, prints what it holds to out
// and checks every buffered frame.
func verifyBuffer(ctx context.Context, dataDir string, out io.Writer) (verifyReport, error) {
	var rep verifyReport
	storeDir := filepath.Join(dataDir, "jetstream")
	if fi, err := os.Stat(storeDir); err != nil || !fi.IsDir() {
		return rep, fmt.Errorf("no Runnel store in %s (%s does not exist); give the server's --data-dir", dataDir, storeDir)
	}
	unlock, err := lockStore(dataDir)
	if err != nil {
		return rep, err
	}
	defer unlock()

	b, err := bus.Open(ctx, bus.Config{DataDir: dataDir, Name: "buffer-verify", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return rep, fmt.Errorf("opening the store in %s: %w", dataDir, err)
	}
	defer b.Close()
	fmt.Fprintf(out, "store: %s\n", storeDir)

	names, damagedConfig, err := verifyConfig(ctx, b, out)
	if err != nil {
		return rep, err
	}
	rep.damaged += damagedConfig

	var evStreams []string
	lister := b.JS.StreamNames(ctx)
	for n := range lister.Name() {
		if strings.HasPrefix(n, "EV_") {
			evStreams = append(evStreams, n)
		}
	}
	if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return rep, fmt.Errorf("listing stream buffers: %w", err)
	}
	sort.Strings(evStreams)
	var damaged []string
	for _, name := range evStreams {
		if err := verifyEventStream(ctx, b, name, names, out, &rep, &damaged); err != nil {
			return rep, err
		}
	}
	for i, d := range damaged {
		if i == maxDamagedShown {
			fmt.Fprintf(out, "  … and %d more damaged messages\n", len(damaged)-maxDamagedShown)
			break
		}
		fmt.Fprintf(out, "  damaged: %s\n", d)
	}
	rep.damaged += len(damaged)

	if err := reportSharedStream(ctx, b, bus.DLQStream, "dead letters", "runnel.dlq.", out); err != nil {
		return rep, err
	}
	if err := reportSharedStream(ctx, b, bus.ActivityStream, "activity", "", out); err != nil {
		return rep, err
	}
	status := "ok"
	if rep.damaged > 0 {
		status = "DAMAGED"
	}
	fmt.Fprintf(out, "%s: %d streams, %d messages, %d events, %d damaged\n", status, rep.streams, rep.messages, rep.events, rep.damaged)
	return rep, nil
}

// verifyConfig reports the configuration bucket and returns the stream
// names by id. A value that is not JSON counts as damaged.
func verifyConfig(ctx context.Context, b *bus.Bus, out io.Writer) (map[string]string, int, error) {
	names := map[string]string{}
	kv, err := b.KV(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("configuration bucket: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("configuration bucket: %w", err)
	}
	counts := map[string]int{}
	total, damaged := 0, 0
	for k := range keys.Keys() {
		total++
		prefix, _, _ := strings.Cut(k, ".")
		counts[prefix]++
		e, err := kv.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // deleted meanwhile
			}
			return nil, 0, fmt.Errorf("configuration bucket: %s: %w", k, err)
		}
		if !json.Valid(e.Value()) {
			damaged++
			fmt.Fprintf(out, "  damaged: configuration key %s is not JSON\n", k)
			continue
		}
		if prefix == "st" {
			var st model.Stream
			if json.Unmarshal(e.Value(), &st) == nil && st.ID != "" {
				names[st.ID] = st.Workspace + "/" + st.Name
			}
		}
	}
	_ = keys.Stop()
	fmt.Fprintf(out, "config: %d keys (%d workspaces, %d tokens, %d streams)\n", total, counts["ws"], counts["tok"], counts["st"])
	return names, damaged, nil
}

// verifyEventStream reports one stream buffer and checks its messages.
func verifyEventStream(ctx context.Context, b *bus.Bus, name string, names map[string]string, out io.Writer, rep *verifyReport, damaged *[]string) error {
	s, err := b.JS.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream buffer %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream buffer %s: %w", name, err)
	}
	id := strings.TrimPrefix(name, "EV_")
	label := names[id]
	if label == "" {
		label = "no configuration: orphaned"
	}
	st := info.State
	fmt.Fprintf(out, "stream %s (%s): %d messages, %d bytes, first seq %d, last seq %d\n",
		id, label, st.Msgs, st.Bytes, st.FirstSeq, st.LastSeq)
	rep.streams++

	cl := s.ListConsumers(ctx)
	var consumers []*jetstream.ConsumerInfo
	for ci := range cl.Info() {
		consumers = append(consumers, ci)
	}
	if err := cl.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("stream buffer %s: consumers: %w", name, err)
	}
	slices.SortFunc(consumers, func(x, y *jetstream.ConsumerInfo) int { return strings.Compare(x.Name, y.Name) })
	for _, ci := range consumers {
		dest := strings.TrimPrefix(ci.Name, "d_")
		if ci.Name == bus.HoldConsumer {
			dest = "(hold: no destinations)"
		}
		fmt.Fprintf(out, "  destination %s: pending %d, ack pending %d, redelivered %d\n",
			dest, ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
	}

	if st.Msgs == 0 {
		return nil
	}
	subject := bus.EventSubject(id)
	if len(info.Config.Subjects) == 1 {
		subject = info.Config.Subjects[0]
	}
	for seq := st.FirstSeq; seq <= st.LastSeq; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream buffer %s: reading message %d: %w", name, seq, err)
		}
		rep.messages++
		n, problem := checkFrame(m.Header, m.Data)
		if problem != "" {
			*damaged = append(*damaged, fmt.Sprintf("stream %s message %d: %s", id, m.Sequence, problem))
		} else {
			rep.events += n
		}
		seq = m.Sequence + 1
	}
	return nil
}

// checkFrame checks one buffered message: the frame headers are present,
// the event count header equals the number of lines, and every line is a
// JSON object. It returns the event count, or what is wrong.
func checkFrame(h nats.Header, data []byte) (int, string) {
	required := []string{event.HdrWorkspace, event.HdrStream, event.HdrCount, event.HdrReceived}
	var missing []string
	for _, k := range required {
		if h.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) == len(required) {
		return 0, "no frame headers: not a Runnel frame"
	}
	if len(missing) > 0 {
		return 0, "missing header " + strings.Join(missing, ", ")
	}
	count, err := strconv.Atoi(h.Get(event.HdrCount))
	if err != nil || count < 0 {
		return 0, fmt.Sprintf("header %s is %q, not a count", event.HdrCount, h.Get(event.HdrCount))
	}
	if _, err := strconv.ParseInt(h.Get(event.HdrReceived), 10, 64); err != nil {
		return 0, fmt.Sprintf("header %s is %q, not a time in milliseconds", event.HdrReceived, h.Get(event.HdrReceived))
	}
	n := 0
	problem := ""
	event.Each(data, func(i int, ev []byte) bool {
		n++
		if ev[0] != '{' || !json.Valid(ev) {
			problem = fmt.Sprintf("event %d is not a JSON object", i)
			return false
		}
		return true
	})
	if problem != "" {
		return 0, problem
	}
	if n != count {
		return 0, fmt.Sprintf("header %s says %d events, the body holds %d", event.HdrCount, count, n)
	}
	return n, ""
}

// reportSharedStream prints the size of a shared stream (dead letters,
// activity), with its messages per subject below prefix when one is given.
func reportSharedStream(ctx context.Context, b *bus.Bus, name, what, prefix string, out io.Writer) error {
	s, err := b.JS.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		fmt.Fprintf(out, "%s: none\n", what)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var opts []jetstream.StreamInfoOpt
	if prefix != "" {
		opts = append(opts, jetstream.WithSubjectFilter(prefix+">"))
	}
	info, err := s.Info(ctx, opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(out, "%s: %d messages, %d bytes\n", what, info.State.Msgs, info.State.Bytes)
	if prefix == "" {
		return nil
	}
	subjects := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		subjects = append(subjects, subj)
	}
	sort.Strings(subjects)
	for _, subj := range subjects {
		// runnel.dlq.<stream id>.<destination>
		fmt.Fprintf(out, "  %s: %d\n", strings.Replace(strings.TrimPrefix(subj, prefix), ".", "/", 1), info.State.Subjects[subj])
	}
	return nil
}
