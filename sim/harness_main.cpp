// The C++ harness of the fabric: drives a Verilator model of terrazzo_fabric from a job
// file and writes a result file, with no Python in the simulation loop.
//
// usage: harness JOB RESULT [--progress]
//
// The file formats, the stimulus and the exit codes are documented in sim/harness.py,
// which writes the job, builds this program and reads the result. The port list of the
// fabric comes from harness_ports.h, which sim/harness.py generates per fabric:
//   TZ_LANES, TZ_IO_IN, TZ_IO_OUT, the X-macros TZ_IN_PORTS(X), TZ_OUT_PORTS(X),
//   which apply X to each port number, and TzModel, the Verilated model's class (the
//   model the cocotb testbench runs, which this program is linked with).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "verilated.h"

#include "harness_ports.h"    // also includes the model's header

namespace {

// -- the pause streams (sim/stimulus.py) ---------------------------------------------------

constexpr uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t OUT_BASE = 0x10000;

uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct PauseStream {
    uint64_t state;
    uint64_t limit;

    PauseStream(uint64_t seed, uint64_t endpoint, uint64_t threshold)
        : state(mix(seed ^ mix((endpoint + 1) * GOLDEN))), limit(threshold) {}

    // One draw per data cycle, whether or not the endpoint has anything to do.
    bool next() {
        state += GOLDEN;
        return (mix(state) >> 11) < limit;
    }
};

// -- the model's data ports, whatever C++ type Verilator gives them -------------------------

constexpr int WORDS = TZ_LANES;    // 32-bit words of one vector (one per lane)

inline void put(IData& port, const uint32_t* w) { port = w[0]; }
inline void put(QData& port, const uint32_t* w) {
    port = static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32);
}
template <std::size_t N>
inline void put(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}

inline void get(const IData& port, uint32_t* w) { w[0] = port; }
inline void get(const QData& port, uint32_t* w) {
    w[0] = static_cast<uint32_t>(port);
    w[1] = static_cast<uint32_t>(port >> 32);
}
template <std::size_t N>
inline void get(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

struct InPort {
    CData* tvalid;
    CData* tlast;
    CData* tready;
    void (*put_data)(TzModel*, const uint32_t*);
};

struct OutPort {
    CData* tvalid;
    CData* tready;
    void (*get_data)(TzModel*, uint32_t*);
};

// -- job and result files -------------------------------------------------------------------

const char JOB_MAGIC[8] = {'T', 'Z', 'H', 'J', 'O', 'B', '0', '1'};
const char RESULT_MAGIC[8] = {'T', 'Z', 'H', 'R', 'E', 'S', '0', '1'};

enum Status : uint32_t {
    OK = 0,
    CFG_ERROR = 1,
    CFG_TIMEOUT = 2,
    NOT_CONFIGURED = 3,
    NOT_STARTED = 4,
    TIMEOUT = 5,
    TOO_MANY = 6,
};

struct Input {
    uint32_t port;
    uint64_t vectors;
    std::vector<uint32_t> data;    // vectors * WORDS
};

struct Job {
    uint32_t flags = 0;
    uint64_t idle = 0, backpressure = 0, seed = 0, timeout = 0, ideal = 0;
    std::vector<uint32_t> words;
    std::vector<Input> inputs;
    std::vector<int64_t> expect;    // per output port; -1: not expected
};

struct Reader {
    std::vector<unsigned char> bytes;
    std::size_t at = 0;
    bool ok = true;

    void take(void* out, std::size_t n) {
        if (!ok || bytes.size() - at < n) {
            ok = false;
            std::memset(out, 0, n);
            return;
        }
        std::memcpy(out, bytes.data() + at, n);
        at += n;
    }
    template <typename T>
    T value() {
        T v;
        take(&v, sizeof v);
        return v;
    }
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "harness: %s\n", message.c_str());
    std::exit(2);
}

Job read_job(const char* path) {
    Reader r;
    FILE* f = std::fopen(path, "rb");
    if (!f) fail(std::string("cannot open job file ") + path);
    unsigned char buffer[1 << 16];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
        r.bytes.insert(r.bytes.end(), buffer, buffer + n);
    std::fclose(f);

    char magic[8];
    r.take(magic, 8);
    if (!r.ok || std::memcmp(magic, JOB_MAGIC, 8) != 0) fail("not a harness job file");
    Job job;
    uint32_t lanes = r.value<uint32_t>(), io_in = r.value<uint32_t>(),
             io_out = r.value<uint32_t>();
    job.flags = r.value<uint32_t>();
    if (lanes != TZ_LANES || io_in != TZ_IO_IN || io_out != TZ_IO_OUT)
        fail("the job is for a fabric of " + std::to_string(lanes) + " lanes, " +
             std::to_string(io_in) + " inputs and " + std::to_string(io_out) +
             " outputs; this harness was built for " + std::to_string(TZ_LANES) + ", " +
             std::to_string(TZ_IO_IN) + " and " + std::to_string(TZ_IO_OUT));
    job.idle = r.value<uint64_t>();
    job.backpressure = r.value<uint64_t>();
    job.seed = r.value<uint64_t>();
    job.timeout = r.value<uint64_t>();
    job.ideal = r.value<uint64_t>();
    uint32_t words = r.value<uint32_t>(), n_inputs = r.value<uint32_t>(),
             n_expect = r.value<uint32_t>();
    r.value<uint32_t>();
    job.words.resize(words);
    r.take(job.words.data(), 4 * std::size_t(words));
    for (uint32_t i = 0; i < n_inputs && r.ok; ++i) {
        Input in;
        in.port = r.value<uint32_t>();
        r.value<uint32_t>();
        in.vectors = r.value<uint64_t>();
        if (in.port >= TZ_IO_IN) fail("input port " + std::to_string(in.port) + " out of range");
        if (in.vectors > (r.bytes.size() - r.at) / (4 * WORDS)) fail("truncated job file");
        in.data.resize(in.vectors * WORDS);
        r.take(in.data.data(), 4 * in.data.size());
        job.inputs.push_back(std::move(in));
    }
    job.expect.assign(TZ_IO_OUT, -1);
    for (uint32_t i = 0; i < n_expect && r.ok; ++i) {
        uint32_t port = r.value<uint32_t>();
        r.value<uint32_t>();
        uint64_t count = r.value<uint64_t>();
        if (port >= TZ_IO_OUT) fail("output port " + std::to_string(port) + " out of range");
        job.expect[port] = static_cast<int64_t>(count);
    }
    if (!r.ok || r.at != r.bytes.size()) fail("truncated or overlong job file");
    if (job.words.empty()) fail("the job has no bitstream");
    return job;
}

struct Result {
    uint32_t status = OK, cfg_error = 0, configured = 0, running = 0, done = 0;
    int64_t cycles = -1;
    uint64_t sim_cycles = 0;
    double wall_seconds = 0.0;
    uint64_t words_taken = 0;
};

// -- the simulation -------------------------------------------------------------------------

class Harness {
public:
    Harness(const Job& job, bool progress)
        : job_(job), progress_(progress), top_(new TzModel{&context_}) {
#define TZ_BIND_IN(k)                                                                     \
    ins_[k] = InPort{&top_->in##k##_tvalid, &top_->in##k##_tlast, &top_->in##k##_tready,   \
                     [](TzModel* t, const uint32_t* w) { put(t->in##k##_tdata, w); }};
#define TZ_BIND_OUT(k)                                                                    \
    outs_[k] = OutPort{&top_->out##k##_tvalid, &top_->out##k##_tready,                     \
                       [](TzModel* t, uint32_t* w) { get(t->out##k##_tdata, w); }};
        TZ_IN_PORTS(TZ_BIND_IN)
        TZ_OUT_PORTS(TZ_BIND_OUT)
#undef TZ_BIND_IN
#undef TZ_BIND_OUT
        for (int k = 0; k < TZ_IO_IN; ++k) {
            in_pause_.emplace_back(job.seed, k, job.idle);
            queue_[k] = nullptr;
            queued_[k] = sent_[k] = 0;
            valid_[k] = 0;
        }
        for (const Input& in : job.inputs) {
            queue_[in.port] = in.data.data();
            queued_[in.port] = in.vectors;
        }
        for (int k = 0; k < TZ_IO_OUT; ++k) {
            out_pause_.emplace_back(job.seed, OUT_BASE + k, job.backpressure);
            arrived_[k] = 0;
            ready_[k] = 0;
            keep_[k] = job.expect[k] < 0 ? 0 : static_cast<uint64_t>(job.expect[k]);
            kept_[k].reserve(keep_[k] * WORDS);
        }
    }

    ~Harness() {
        top_->final();
        delete top_;
    }

    Result run();
    const uint64_t* sent() const { return sent_; }
    const uint64_t* arrived() const { return arrived_; }
    const std::vector<uint32_t>& kept(int k) const { return kept_[k]; }

private:
    // Writes happen at a falling edge; eval() settles them, the handshakes are read,
    // then the clock rises (and is evaluated) and falls. Nothing in the fabric is
    // sensitive to the falling edge, so it needs no eval() of its own: the next
    // cycle's eval() settles it with that cycle's writes, giving the same state as a
    // separate one (and the same results) for a sixth less time per cycle.
    void clock() {
        top_->clk = 1;
        top_->eval();
        top_->clk = 0;
    }
    void quiet();
    void reset();
    bool configure(Result& result);
    bool start(Result& result);
    void data_cycle();
    bool complete() const;
    void report(uint64_t cycle, std::chrono::steady_clock::time_point t0, bool last);

    const Job& job_;
    bool progress_;
    VerilatedContext context_;
    TzModel* top_;
    InPort ins_[TZ_IO_IN];
    OutPort outs_[TZ_IO_OUT];
    std::vector<PauseStream> in_pause_, out_pause_;
    const uint32_t* queue_[TZ_IO_IN];
    uint64_t queued_[TZ_IO_IN], sent_[TZ_IO_IN];
    CData valid_[TZ_IO_IN];
    uint64_t arrived_[TZ_IO_OUT], keep_[TZ_IO_OUT];
    CData ready_[TZ_IO_OUT];
    std::vector<uint32_t> kept_[TZ_IO_OUT];
};

void Harness::quiet() {
    const uint32_t zero[WORDS] = {};
    top_->start = 0;
    top_->cfg_tvalid = 0;
    top_->cfg_tlast = 0;
    top_->cfg_tdata = 0;
    for (InPort& p : ins_) {
        *p.tvalid = 0;
        *p.tlast = 1;    // the fabric ignores tlast on data inputs
        p.put_data(top_, zero);
    }
    for (OutPort& p : outs_) *p.tready = 0;
}

void Harness::reset() {
    quiet();
    top_->clk = 0;
    top_->rst = 1;
    top_->eval();
    for (int i = 0; i < 4; ++i) clock();
    top_->rst = 0;    // the configuration phase begins at this falling edge
}

bool Harness::configure(Result& result) {
    const std::vector<uint32_t>& words = job_.words;
    const uint64_t n = words.size(), limit = n + 1000;
    uint64_t taken = 0, idle = 0;
    for (;;) {
        uint32_t code = top_->cfg_error;
        if (code || (taken == n && top_->configured)) {
            top_->cfg_tvalid = 0;
            top_->cfg_tlast = 0;
            result.cfg_error = code;
            result.words_taken = taken;
            return true;
        }
        if (idle > limit) {
            result.status = CFG_TIMEOUT;
            result.words_taken = taken;
            return false;
        }
        if (taken < n) {
            top_->cfg_tvalid = 1;
            top_->cfg_tdata = words[taken];
            top_->cfg_tlast = taken == n - 1;
            top_->eval();
            if (top_->cfg_tready) {
                ++taken;
                idle = 0;
            } else {
                ++idle;
            }
        } else {
            top_->cfg_tvalid = 0;
            top_->cfg_tlast = 0;
            top_->eval();
            ++idle;
        }
        clock();
    }
}

bool Harness::start(Result& result) {
    top_->start = 1;
    top_->eval();
    clock();
    // Read before start=0 is settled, as the stimulus contract says.
    result.running = top_->running;
    result.configured = top_->configured;
    result.done = top_->done;
    top_->start = 0;
    if (!result.running) {
        result.status = NOT_STARTED;
        return false;
    }
    return true;
}

void Harness::data_cycle() {
    for (int k = 0; k < TZ_IO_IN; ++k) {
        bool paused = in_pause_[k].next();
        CData valid = sent_[k] < queued_[k] && !paused;
        if (valid) ins_[k].put_data(top_, queue_[k] + sent_[k] * WORDS);
        *ins_[k].tvalid = valid_[k] = valid;
    }
    for (int k = 0; k < TZ_IO_OUT; ++k) *outs_[k].tready = ready_[k] = !out_pause_[k].next();
    top_->eval();
    for (int k = 0; k < TZ_IO_IN; ++k)
        if (valid_[k] && *ins_[k].tready) ++sent_[k];
    for (int k = 0; k < TZ_IO_OUT; ++k) {
        if (ready_[k] && *outs_[k].tvalid) {
            if (arrived_[k] < keep_[k]) {
                uint32_t w[WORDS];
                outs_[k].get_data(top_, w);
                kept_[k].insert(kept_[k].end(), w, w + WORDS);
            }
            ++arrived_[k];
        }
    }
    clock();
}

bool Harness::complete() const {
    for (int k = 0; k < TZ_IO_OUT; ++k)
        if (job_.expect[k] >= 0 && arrived_[k] < static_cast<uint64_t>(job_.expect[k]))
            return false;
    return top_->done;
}

void Harness::report(uint64_t cycle, std::chrono::steady_clock::time_point t0, bool last) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double rate = seconds > 0 ? cycle / seconds : 0.0;
    if (job_.ideal)
        std::fprintf(stderr, "\r  cycle %llu (%.0f%% of ideal), %.0f cycles/s",
                     static_cast<unsigned long long>(cycle), 100.0 * cycle / job_.ideal, rate);
    else
        std::fprintf(stderr, "\r  cycle %llu, %.0f cycles/s",
                     static_cast<unsigned long long>(cycle), rate);
    if (last) std::fputc('\n', stderr);
    std::fflush(stderr);
}

Result Harness::run() {
    Result result;
    reset();
    bool configured = configure(result);
    if (configured && (result.cfg_error || (job_.flags & 1))) {
        // A rejected bitstream must leave the fabric unconfigured, not just late.
        for (uint64_t i = 0; i < job_.words.size() + 64; ++i) clock();
        result.status = result.cfg_error ? CFG_ERROR : OK;
        result.configured = top_->configured;
        return result;
    }
    if (!configured) {
        result.configured = top_->configured;
        return result;
    }
    if (!top_->configured) {
        result.status = NOT_CONFIGURED;
        return result;
    }
    if (!start(result)) return result;

    using clock_type = std::chrono::steady_clock;
    const auto t0 = clock_type::now();
    auto shown = t0;
    uint64_t cycle = 0;
    bool shown_any = false;
    while (!complete()) {
        if (cycle == job_.timeout) {
            result.status = TIMEOUT;
            result.running = top_->running;
            result.done = top_->done;
            result.cycles = top_->cycles;
            result.sim_cycles = cycle;
            result.wall_seconds =
                std::chrono::duration<double>(clock_type::now() - t0).count();
            if (shown_any) report(cycle, t0, true);
            return result;
        }
        data_cycle();
        ++cycle;
        // Look at the clock every 1024 cycles (a fraction of a second even for the
        // largest fabrics), and print about twice a second.
        if (progress_ && (cycle & 1023) == 0) {
            auto now = clock_type::now();
            if (now - shown >= std::chrono::milliseconds(500)) {
                report(cycle, t0, false);
                shown = now;
                shown_any = true;
            }
        }
    }
    result.sim_cycles = cycle;
    result.wall_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (progress_) report(cycle, t0, true);

    // Words still in flight on the switches would show up within a few hops.
    for (int i = 0; i < 2 * (TZ_IO_IN + TZ_IO_OUT) + 16; ++i) data_cycle();
    for (int k = 0; k < TZ_IO_OUT; ++k)
        if (arrived_[k] > keep_[k]) result.status = TOO_MANY;
    result.cycles = top_->cycles;
    result.configured = top_->configured;
    result.running = top_->running;
    result.done = top_->done;
    return result;
}

void write_result(const char* path, const Result& r, const Harness& h) {
    std::string tmp = std::string(path) + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("cannot write " + tmp);
    auto out = [&](const void* p, std::size_t n) {
        if (n && std::fwrite(p, 1, n, f) != n) fail("cannot write " + tmp);
    };
    const uint32_t fields[] = {r.status, r.cfg_error, r.configured, r.running, r.done,
                               TZ_IO_IN, TZ_IO_OUT, TZ_LANES};
    out(RESULT_MAGIC, 8);
    out(fields, sizeof fields);
    out(&r.cycles, 8);
    out(&r.sim_cycles, 8);
    out(&r.wall_seconds, 8);
    out(&r.words_taken, 8);
    out(h.sent(), 8 * TZ_IO_IN);
    out(h.arrived(), 8 * TZ_IO_OUT);
    for (int k = 0; k < TZ_IO_OUT; ++k) {
        uint64_t kept = h.kept(k).size() / WORDS;
        out(&kept, 8);
    }
    for (int k = 0; k < TZ_IO_OUT; ++k) out(h.kept(k).data(), 4 * h.kept(k).size());
    if (std::fclose(f) != 0) fail("cannot write " + tmp);
    if (std::rename(tmp.c_str(), path) != 0) fail(std::string("cannot write ") + path);
}

}  // namespace

int main(int argc, char** argv) {
    bool progress = false;
    std::vector<const char*> paths;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--progress") == 0)
            progress = true;
        else
            paths.push_back(argv[i]);
    }
    if (paths.size() != 2) fail("usage: harness JOB RESULT [--progress]");
    Job job = read_job(paths[0]);
    Harness harness(job, progress);
    Result result = harness.run();
    write_result(paths[1], result, harness);
    return 0;
}
