// drover-packs fetches a deduplicated restore's packs, checks each one's ciphertext against its SHA-256, and
// decrypts (age) and decompresses (zstd) it into a file, in one long-running process: no program is started per
// pack, and no ciphertext is written to disk (activities/lib/pack-fetch.ts starts it, one per restore).
//
// Usage: drover-packs <identity-file> [<stall-seconds>], in the restore's private folder. Each line on stdin is a job:
//
//	<n> <out> <sha256> <url>
//
// (a presigned GET: the URL grants reading one object for a few minutes, and never shows in a process list). Jobs
// run side by side as they come. Each job's outcome is one line on stdout, "<n> <code> <HTTP status>"; the words of
// a failure go to "<out>.err", a response's headers to "<out>.hdr" when its status is not 2xx. Codes:
//
//	0  the pack is in <out>, decrypted
//	10 the transfer failed (no connection in 20 s, under 1 KiB/s over 60 s, cut short)
//	11 an HTTP status other than 2xx (its body is never taken for the pack)
//	13 the ciphertext's SHA-256 is not the expected one (its SHA-256 the error file's last line)
//	14 age refused the ciphertext (not for this identity, tampered with)
//	15 the plaintext is not valid zstd
//	18 the pack could not be written (the restore worker's disk)
//	19 a job line this program cannot read (the worker never writes one)
//
// At the end of stdin it waits for the jobs running and exits 0 (1 when stdin could not be read to its end).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

const (
	// A connection, its TLS handshake included, made within this (curl's --connect-timeout 20, which the fetcher
	// used before).
	connectTimeout = 20 * time.Second
	// A transfer is given up once it has moved less than stallRate bytes a second over stallTime (by default 60 s,
	// its response's headers included: curl's --speed-limit 1024 --speed-time 60).
	stallRate = 1024
	// Packs are ~8 MiB of pieces; a Content-Length past this is not one.
	maxPackBytes = 1 << 30
)

var stallTime = 60 * time.Second

var client = &http.Client{
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSHandshakeTimeout: connectTimeout,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
	},
	// A redirect's body is never the pack: its status is the outcome.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var (
	outMu sync.Mutex
	out   = bufio.NewWriter(os.Stdout)
)

// report writes one job's outcome line, whole (one write, under PIPE_BUF).
func report(n string, code, status int) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(out, "%s %d %d\n", n, code, status)
	out.Flush()
}

// note appends the words of a job's failure to its error file.
func note(file, words string) {
	f, err := os.OpenFile(file+".err", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, strings.TrimSpace(words))
}

// countingReader counts the bytes its transfer has moved, for the stall watchdog.
type countingReader struct {
	r     io.Reader
	moved *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.moved.Add(int64(n))
	return n, err
}

// errReader remembers the error its reader returned (other than EOF): which stage of a chain failed. Read in the
// goroutine that reads the chain (the zstd decoder runs synchronously, WithDecoderConcurrency(1)), so no lock.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// errWriter remembers the error its file's writes returned.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// fetch downloads url whole into memory: its body, or the job's outcome when there is none to check.
func fetch(url, file string) (body []byte, code, status int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every stallTime, the bytes moved since the last check: under stallRate a second on average ends the transfer.
	var moved atomic.Int64
	var stalled, done atomic.Bool
	var watch func()
	watch = func() {
		if done.Load() {
			return
		}
		if moved.Swap(0) < stallRate*int64(stallTime/time.Second) {
			stalled.Store(true)
			cancel()
			return
		}
		time.AfterFunc(stallTime, watch)
	}
	time.AfterFunc(stallTime, watch)
	defer done.Store(true)
	// The transfer's own words, or the stall's when the watchdog ended it.
	words := func(err error) string {
		if stalled.Load() {
			return fmt.Sprintf("under %d bytes a second over %s: transfer given up", stallRate, stallTime)
		}
		return err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		note(file, "fetch: "+err.Error())
		return nil, 10, 0
	}
	resp, err := client.Do(req)
	if err != nil {
		note(file, "fetch: "+words(err))
		return nil, 10, 0
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if h, err := os.OpenFile(file+".hdr", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			resp.Header.Write(h)
			h.Close()
		}
		return nil, 11, resp.StatusCode
	}
	if resp.ContentLength > maxPackBytes {
		note(file, fmt.Sprintf("fetch: %d bytes is not a pack", resp.ContentLength))
		return nil, 10, resp.StatusCode
	}
	size := resp.ContentLength
	if size < 0 {
		size = 0
	}
	buf := make([]byte, 0, size+1)
	r := &countingReader{r: resp.Body, moved: &moved}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			note(file, "fetch: "+words(err))
			return nil, 10, resp.StatusCode
		}
		if len(buf) > maxPackBytes {
			note(file, "fetch: the body is larger than any pack")
			return nil, 10, resp.StatusCode
		}
	}
	if resp.ContentLength >= 0 && int64(len(buf)) != resp.ContentLength {
		note(file, fmt.Sprintf("fetch: the transfer ended after %d of %d bytes", len(buf), resp.ContentLength))
		return nil, 10, resp.StatusCode
	}
	return buf, 0, resp.StatusCode
}

// unpack decrypts and decompresses a checked ciphertext into file: the job's code.
func unpack(ciphertext []byte, ids []age.Identity, file string) int {
	plain, err := age.Decrypt(bytes.NewReader(ciphertext), ids...)
	if err != nil {
		note(file, "age: "+err.Error())
		return 14
	}
	decrypted := &errReader{r: plain}
	dec, err := zstd.NewReader(decrypted, zstd.WithDecoderConcurrency(1))
	if err != nil {
		note(file, "zstd: "+err.Error())
		return 15
	}
	defer dec.Close()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		note(file, "write error: "+err.Error())
		return 18
	}
	w := &errWriter{w: f}
	_, err = io.Copy(w, dec)
	closeErr := f.Close()
	switch {
	case w.err != nil:
		note(file, "write error: "+w.err.Error())
		return 18
	case decrypted.err != nil:
		note(file, "age: "+decrypted.err.Error())
		return 14
	case err != nil:
		note(file, "zstd: "+err.Error())
		return 15
	case closeErr != nil:
		note(file, "write error: "+closeErr.Error())
		return 18
	}
	return 0
}

func job(line string, ids []age.Identity, idErr error) {
	w := strings.Fields(line)
	if len(w) != 4 {
		fmt.Fprintf(os.Stderr, "drover-packs: a job line has %d words, not 4\n", len(w))
		if len(w) > 0 {
			report(w[0], 19, 0)
		}
		return
	}
	n, file, want, url := w[0], w[1], w[2], w[3]
	if strings.ContainsAny(file, "/") {
		fmt.Fprintf(os.Stderr, "drover-packs: job %s: %q is not a file name\n", n, file)
		report(n, 19, 0)
		return
	}
	body, code, status := fetch(url, file)
	if code != 0 {
		report(n, code, status)
		return
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != want {
		note(file, got)
		report(n, 13, status)
		return
	}
	if idErr != nil {
		note(file, "age: "+idErr.Error())
		report(n, 14, status)
		return
	}
	report(n, unpack(body, ids, file), status)
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: drover-packs <identity-file> [<stall-seconds>]")
		os.Exit(2)
	}
	if len(os.Args) == 3 {
		seconds, err := strconv.Atoi(os.Args[2])
		if err != nil || seconds < 1 {
			fmt.Fprintf(os.Stderr, "drover-packs: stall-seconds must be a whole number of seconds, not %q\n", os.Args[2])
			os.Exit(2)
		}
		stallTime = time.Duration(seconds) * time.Second
	}
	// An identity that cannot be read fails every job as age would have (DecryptionFailed), not the fetcher.
	var ids []age.Identity
	f, idErr := os.Open(os.Args[1])
	if idErr == nil {
		ids, idErr = age.ParseIdentities(f)
		f.Close()
	}
	var wg sync.WaitGroup
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		line := in.Text()
		wg.Add(1)
		go func() {
			defer wg.Done()
			job(line, ids, idErr)
		}()
	}
	wg.Wait()
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "drover-packs: reading jobs: %v\n", err)
		os.Exit(1)
	}
}
