// The C++ harness of the fabric: drives a Verilator model of terrazzo_fabric from a job
// file and writes a result file, with no Python in the simulation loop.
//
// usage: harness JOB RESULT [--progress]
//
// The file formats and the exit codes are documented in sim/harness_files.py, the stimulus
// in sim/harness.py, which writes the job, builds this program and reads the result
// (through sim/harness_files.py). The port list of the
// fabric comes from harness_ports.h, which sim/harness.py generates per fabric:
//   TZ_LANES, TZ_IO_IN, TZ_IO_OUT, the X-macros TZ_IN_PORTS(X), TZ_OUT_PORTS(X),
//   which apply X to each port number, and TzModel, the Verilated model's class (the
//   model the cocotb testbench runs, which this program is linked with); for the DRAM
//   ports TZ_DRAM_PORTS, TZ_DRAM_BEAT (32-bit words per AXI4 data beat) and the X-macro
//   TZ_DRAM_LIST(X). The DRAM model (an AXI4 subordinate per port, all over one memory) is
//   compiled only when TZ_DRAM_PORTS is non-zero, so a fabric without DRAM ports gets no
//   DRAM code.
//
// A job is a list of sections, run one after the other on the model, which is reset once:
// each section loads its bitstream (reconfiguring the fabric as the previous section left
// it), starts the fabric and streams its data; the DRAM memory persists. The first section
// that does not end OK is the last.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <type_traits>
#include <utility>
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

inline void get(const CData& port, uint32_t* w) { w[0] = port; }
inline void get(const SData& port, uint32_t* w) { w[0] = port; }
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

const char JOB_MAGIC[8] = {'T', 'Z', 'H', 'J', 'O', 'B', '0', '2'};
const char RESULT_MAGIC[8] = {'T', 'Z', 'H', 'R', 'E', 'S', '0', '3'};

// Section i draws its pauses from the streams of endpoint e + i * SECTION_STRIDE
// (sim.job.section_endpoint).
constexpr uint64_t SECTION_STRIDE = 0x20000;

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

struct Section {
    uint64_t timeout = 0;
    std::vector<uint32_t> words;    // the bitstream
    std::vector<Input> inputs;
    std::vector<int64_t> expect;    // per output port; -1: not expected
};

struct Job {
    uint32_t flags = 0;
    uint64_t idle = 0, backpressure = 0, seed = 0, ideal = 0;
    uint32_t dram_latency = 1;      // cycles from an AR or a last W beat to its answer
    bool has_memory = false;
    std::vector<uint32_t> memory;   // the DRAM memory, word 0 at byte address 0
    std::vector<Section> sections;
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

// Reads exactly `count` little-endian words from the file `path` into `words`.
void read_memory(const std::string& path, uint64_t count, std::vector<uint32_t>& words) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("cannot open DRAM image " + path);
    words.resize(count);
    std::size_t got = std::fread(words.data(), 4, count, f);
    bool longer = std::fgetc(f) != EOF;
    std::fclose(f);
    if (got != count || longer)
        fail("DRAM image " + path + " is not " + std::to_string(count) + " words");
}

void read_section(Reader& r, Section& section) {
    section.timeout = r.value<uint64_t>();
    uint32_t words = r.value<uint32_t>(), n_inputs = r.value<uint32_t>(),
             n_expect = r.value<uint32_t>();
    r.value<uint32_t>();
    if (words > (r.bytes.size() - r.at) / 4) fail("truncated job file");
    section.words.resize(words);
    r.take(section.words.data(), 4 * std::size_t(words));
    for (uint32_t i = 0; i < n_inputs && r.ok; ++i) {
        Input in;
        in.port = r.value<uint32_t>();
        r.value<uint32_t>();
        in.vectors = r.value<uint64_t>();
        if (in.port >= TZ_IO_IN)
            fail("input port " + std::to_string(in.port) + " out of range");
        if (in.vectors > (r.bytes.size() - r.at) / (4 * WORDS)) fail("truncated job file");
        in.data.resize(in.vectors * WORDS);
        r.take(in.data.data(), 4 * in.data.size());
        section.inputs.push_back(std::move(in));
    }
    section.expect.assign(TZ_IO_OUT, -1);
    for (uint32_t i = 0; i < n_expect && r.ok; ++i) {
        uint32_t port = r.value<uint32_t>();
        r.value<uint32_t>();
        uint64_t count = r.value<uint64_t>();
        if (port >= TZ_IO_OUT) fail("output port " + std::to_string(port) + " out of range");
        section.expect[port] = static_cast<int64_t>(count);
    }
    if (r.ok && section.words.empty()) fail("a section of the job has no bitstream");
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
    job.ideal = r.value<uint64_t>();
    uint32_t n_sections = r.value<uint32_t>();
    job.dram_latency = r.value<uint32_t>();
    uint64_t memory_words = r.value<uint64_t>(), length = r.value<uint64_t>();
    if (job.dram_latency < 1) fail("DRAM latency must be at least one cycle");
    if (n_sections < 1) fail("the job has no sections");
    if (length > r.bytes.size() - r.at) fail("truncated job file");
    std::string name(length, '\0');
    r.take(&name[0], length);
    if (memory_words) {
        if (TZ_DRAM_PORTS == 0)
            fail("the job has a DRAM memory, but this fabric has no DRAM ports");
        // the memory file is named relative to the job file's folder
        std::string folder(path);
        const std::size_t slash = folder.find_last_of('/');
        folder.erase(slash == std::string::npos ? 0 : slash + 1);
        read_memory(folder + name, memory_words, job.memory);
        job.has_memory = true;
    }
    job.sections.resize(n_sections);
    for (Section& section : job.sections) {
        if (!r.ok) break;
        read_section(r, section);
    }
    if (!r.ok || r.at != r.bytes.size()) fail("truncated or overlong job file");
    return job;
}

// What one section gave.
struct Result {
    uint32_t status = OK, cfg_error = 0, configured = 0, running = 0, done = 0;
    int64_t cycles = -1;
    uint64_t sim_cycles = 0;
    double wall_seconds = 0.0;
    uint64_t words_taken = 0;
    uint64_t sent[TZ_IO_IN] = {};
    uint64_t arrived[TZ_IO_OUT] = {};
    std::vector<uint32_t> kept[TZ_IO_OUT];    // per output port
};

#if TZ_DRAM_PORTS > 0
// -- the DRAM ports: an AXI4 subordinate per port, all over one word array ------------------
//
// AR, AW and W are always ready; each burst is checked when its AR or AW arrives. Read
// bursts answer in order (one ID), the first beat `latency` cycles after the AR, then one
// beat per cycle while rready is high; W beats are buffered until their AW has arrived
// and written byte by byte under wstrb; B follows `latency` cycles after a burst's last
// beat (its beat count comes from awlen; wlast is not checked). Any number of bursts may
// be outstanding. A burst that is not INCR of full-width beats, or any of whose bytes
// lies outside the memory, answers SLVERR (every beat of a read, with data 0; the B of a
// write) and changes nothing. Every port works on the same memory (one address space, as
// DRAM behind an interconnect); within a cycle the ports sample in port order.

constexpr int BEAT = TZ_DRAM_BEAT;                     // 32-bit words per beat
constexpr uint64_t BEAT_BYTES = 4 * BEAT;
constexpr int STRB_WORDS = (4 * BEAT + 31) / 32;       // 32-bit words of wstrb
constexpr uint8_t RESP_OKAY = 0, RESP_SLVERR = 2, BURST_INCR = 1;

constexpr unsigned log2_of(uint64_t x) { return x <= 1 ? 0 : 1 + log2_of(x / 2); }
constexpr uint8_t BEAT_SIZE = log2_of(BEAT_BYTES);    // arsize/awsize of a full beat

static_assert((BEAT & (BEAT - 1)) == 0 && BEAT >= 1 && BEAT <= 32,
              "TZ_DRAM_BEAT must be a power of two from 1 to 32");
static_assert(sizeof(std::remove_reference_t<decltype(std::declval<TzModel>().dram0_rdata)>) ==
                  BEAT_BYTES,
              "TZ_DRAM_BEAT does not match the width of dram0_rdata");

struct DramPins {
    CData *arvalid, *arready, *arlen, *arsize, *arburst;
    IData* araddr;
    CData *rvalid, *rready, *rlast, *rresp, *rid;
    CData *awvalid, *awready, *awlen, *awsize, *awburst;
    IData* awaddr;
    CData *wvalid, *wready;
    CData *bvalid, *bready, *bresp, *bid;
    void (*put_rdata)(TzModel*, const uint32_t*);
    void (*get_wdata)(TzModel*, uint32_t*);
    void (*get_wstrb)(TzModel*, uint32_t*);
};

class DramPort {
public:
    // Without memory (the job has none) the port stays as quiet() left it. Every port
    // attaches to the same memory: port k's byte address a is word a / 4 of it.
    void attach(const DramPins& pins, std::vector<uint32_t>* memory, uint32_t latency) {
        pins_ = pins;
        memory_ = memory;
        active_ = memory != nullptr;
        latency_ = latency;
    }

    // At a falling edge: what the next rising edge will see.
    void drive(TzModel* top) {
        if (!active_) return;
        *pins_.arready = *pins_.awready = *pins_.wready = 1;
        if (!reads_.empty() && reads_.front().due <= now_) {
            const Burst& b = reads_.front();
            static const uint32_t zero[BEAT] = {};
            pins_.put_rdata(top, b.resp == RESP_OKAY
                                     ? memory_->data() + b.word + uint64_t(b.moved) * BEAT
                                     : zero);
            *pins_.rresp = b.resp;
            *pins_.rlast = b.moved + 1 == b.beats;
            *pins_.rvalid = 1;
        } else {
            *pins_.rvalid = 0;
            *pins_.rlast = 0;
        }
        *pins_.rid = 0;
        if (!answers_.empty() && answers_.front().due <= now_) {
            *pins_.bresp = answers_.front().resp;
            *pins_.bvalid = 1;
        } else {
            *pins_.bvalid = 0;
        }
        *pins_.bid = 0;
    }

    // After the model has settled: the handshakes of the coming rising edge.
    void sample(TzModel* top) {
        if (!active_) return;
        if (*pins_.rvalid && *pins_.rready && ++reads_.front().moved == reads_.front().beats)
            reads_.pop_front();
        if (*pins_.bvalid && *pins_.bready) answers_.pop_front();
        if (*pins_.arvalid)
            reads_.push_back(burst(*pins_.araddr, *pins_.arlen, *pins_.arsize, *pins_.arburst,
                                   now_ + latency_));
        if (*pins_.awvalid)
            writes_.push_back(burst(*pins_.awaddr, *pins_.awlen, *pins_.awsize,
                                    *pins_.awburst, 0));
        if (*pins_.wvalid) {
            WBeat w;
            pins_.get_wdata(top, w.data);
            pins_.get_wstrb(top, w.strb);
            beats_.push_back(w);
        }
        while (!writes_.empty() && !beats_.empty()) {
            Burst& b = writes_.front();
            if (b.resp == RESP_OKAY) store(b.word + uint64_t(b.moved) * BEAT, beats_.front());
            beats_.pop_front();
            if (++b.moved == b.beats) {
                answers_.push_back(Answer{now_ + latency_, b.resp});
                writes_.pop_front();
            }
        }
        ++now_;
    }

private:
    struct Burst {
        uint64_t word;      // first word of its first beat
        uint32_t beats;
        uint32_t moved;     // beats transferred so far
        uint64_t due;       // first cycle its first R beat may be offered (reads)
        uint8_t resp;
    };
    struct WBeat {
        uint32_t data[BEAT];
        uint32_t strb[STRB_WORDS];
    };
    struct Answer {
        uint64_t due;
        uint8_t resp;
    };

    // An INCR burst's beats follow the beat holding its (possibly unaligned) address.
    Burst burst(uint32_t addr, uint8_t len, uint8_t size, uint8_t kind, uint64_t due) const {
        const uint64_t first = addr / BEAT_BYTES, beats = uint64_t(len) + 1;
        const bool ok = size == BEAT_SIZE && kind == BURST_INCR &&
                        (first + beats) * BEAT <= memory_->size();
        return Burst{first * BEAT, static_cast<uint32_t>(beats), 0, due,
                     ok ? RESP_OKAY : RESP_SLVERR};
    }

    void store(uint64_t word, const WBeat& w) {
        uint32_t* m = memory_->data() + word;
        for (int i = 0; i < BEAT; ++i) {
            const uint32_t strobes = (w.strb[i / 8] >> (4 * (i % 8))) & 0xF;
            uint32_t mask = 0;
            for (int byte = 0; byte < 4; ++byte)
                if (strobes >> byte & 1) mask |= 0xFFu << (8 * byte);
            m[i] = (m[i] & ~mask) | (w.data[i] & mask);
        }
    }

    DramPins pins_{};
    bool active_ = false;
    uint64_t latency_ = 1;
    uint64_t now_ = 0;                  // cycles sampled so far
    std::vector<uint32_t>* memory_ = nullptr;   // shared by every port
    std::deque<Burst> reads_, writes_;  // reads: until their last R beat; writes: W beats
    std::deque<WBeat> beats_;           // W beats waiting for their AW
    std::deque<Answer> answers_;        // B responses not yet taken
};
#endif

// -- the simulation -------------------------------------------------------------------------

class Harness {
public:
    // Takes the DRAM memory out of `job` (the DRAM ports share it).
    Harness(Job& job, bool progress)
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
        has_memory_ = job.has_memory;
        memory_ = std::move(job.memory);
#if TZ_DRAM_PORTS > 0
#define TZ_PIN(k, name) &top_->dram##k##_##name
#define TZ_BIND_DRAM(k)                                                                   \
    dram_pins_[k] = DramPins{                                                             \
        TZ_PIN(k, arvalid), TZ_PIN(k, arready), TZ_PIN(k, arlen), TZ_PIN(k, arsize),       \
        TZ_PIN(k, arburst), TZ_PIN(k, araddr), TZ_PIN(k, rvalid), TZ_PIN(k, rready),       \
        TZ_PIN(k, rlast), TZ_PIN(k, rresp), TZ_PIN(k, rid), TZ_PIN(k, awvalid),            \
        TZ_PIN(k, awready), TZ_PIN(k, awlen), TZ_PIN(k, awsize), TZ_PIN(k, awburst),       \
        TZ_PIN(k, awaddr), TZ_PIN(k, wvalid), TZ_PIN(k, wready), TZ_PIN(k, bvalid),        \
        TZ_PIN(k, bready), TZ_PIN(k, bresp), TZ_PIN(k, bid),                               \
        [](TzModel* t, const uint32_t* w) { put(t->dram##k##_rdata, w); },                 \
        [](TzModel* t, uint32_t* w) { get(t->dram##k##_wdata, w); },                       \
        [](TzModel* t, uint32_t* w) { get(t->dram##k##_wstrb, w); }};
        TZ_DRAM_LIST(TZ_BIND_DRAM)
#undef TZ_BIND_DRAM
#undef TZ_PIN
        for (int k = 0; k < TZ_DRAM_PORTS; ++k)
            drams_[k].attach(dram_pins_[k], has_memory_ ? &memory_ : nullptr,
                             job.dram_latency);
#endif
    }

    ~Harness() {
        top_->final();
        delete top_;
    }

    // Every section in order, until one does not end OK (it is the last result).
    std::vector<Result> run();
    bool has_memory() const { return has_memory_; }
    const std::vector<uint32_t>& memory() const { return memory_; }

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
    // A cycle with no writes: clock() needs an eval() with the clock low before it, or
    // Verilator sees no rising edge.
    void idle_cycle() {
        top_->eval();
        clock();
    }
    // The DRAM ports' part of a cycle: drive() with the other writes at the falling
    // edge, sample() after the handshakes are read (nothing without DRAM ports).
    void dram_drive() {
#if TZ_DRAM_PORTS > 0
        for (DramPort& d : drams_) d.drive(top_);
#endif
    }
    void dram_sample() {
#if TZ_DRAM_PORTS > 0
        for (DramPort& d : drams_) d.sample(top_);
#endif
    }
    // A cycle that writes nothing but the DRAM ports' inputs.
    void dram_cycle() {
        dram_drive();
        top_->eval();
        dram_sample();
        clock();
    }
    void quiet();
    void quiet_streams();
    void reset();
    void begin(const Section& section, uint64_t index);
    bool configure(const Section& section, Result& result);
    bool start(Result& result);
    void data_cycle();
    bool complete() const;
    void report(uint64_t cycle, std::chrono::steady_clock::time_point t0, bool last);
    Result run_section(uint64_t index);
    void finish(Result& result);

    const Job& job_;
    bool progress_;
    VerilatedContext context_;
    TzModel* top_;
    InPort ins_[TZ_IO_IN];
    OutPort outs_[TZ_IO_OUT];
    // the current section's streams
    const Section* section_ = nullptr;
    std::vector<PauseStream> in_pause_, out_pause_;
    const uint32_t* queue_[TZ_IO_IN];
    uint64_t queued_[TZ_IO_IN], sent_[TZ_IO_IN];
    CData valid_[TZ_IO_IN];
    uint64_t arrived_[TZ_IO_OUT], keep_[TZ_IO_OUT];
    CData ready_[TZ_IO_OUT];
    std::vector<uint32_t> kept_[TZ_IO_OUT];
    // the DRAM memory, the same for every port and every section
    bool has_memory_ = false;
    std::vector<uint32_t> memory_;
#if TZ_DRAM_PORTS > 0
    DramPins dram_pins_[TZ_DRAM_PORTS];
    DramPort drams_[TZ_DRAM_PORTS];
#endif
};

void Harness::quiet() {
    const uint32_t zero[WORDS] = {};
    top_->start = 0;
    top_->cfg_tvalid = 0;
    top_->cfg_tlast = 0;
    top_->cfg_tdata = 0;
    for (InPort& p : ins_) {
        *p.tlast = 1;    // the fabric ignores tlast on data inputs
        p.put_data(top_, zero);
    }
    quiet_streams();
#if TZ_DRAM_PORTS > 0
    const uint32_t beat[BEAT] = {};
    for (int k = 0; k < TZ_DRAM_PORTS; ++k) {
        const DramPins& p = dram_pins_[k];
        *p.arready = *p.rvalid = *p.rlast = *p.rresp = *p.rid = 0;
        *p.awready = *p.wready = *p.bvalid = *p.bresp = *p.bid = 0;
        p.put_rdata(top_, beat);
    }
#endif
}

// Every input's tvalid and every output's tready low (also between sections).
void Harness::quiet_streams() {
    for (int k = 0; k < TZ_IO_IN; ++k) *ins_[k].tvalid = valid_[k] = 0;
    for (int k = 0; k < TZ_IO_OUT; ++k) *outs_[k].tready = ready_[k] = 0;
}

void Harness::reset() {
    quiet();
    top_->clk = 0;
    top_->rst = 1;
    top_->eval();
    for (int i = 0; i < 4; ++i) idle_cycle();
    top_->rst = 0;    // the configuration phase begins at this falling edge
}

// The streams of section `index`: its vectors, its pause streams, nothing sent yet.
void Harness::begin(const Section& section, uint64_t index) {
    section_ = &section;
    in_pause_.clear();
    out_pause_.clear();
    for (int k = 0; k < TZ_IO_IN; ++k) {
        in_pause_.emplace_back(job_.seed, k + index * SECTION_STRIDE, job_.idle);
        queue_[k] = nullptr;
        queued_[k] = sent_[k] = 0;
    }
    for (const Input& in : section.inputs) {
        queue_[in.port] = in.data.data();
        queued_[in.port] = in.vectors;
    }
    for (int k = 0; k < TZ_IO_OUT; ++k) {
        out_pause_.emplace_back(job_.seed, OUT_BASE + k + index * SECTION_STRIDE,
                                job_.backpressure);
        arrived_[k] = 0;
        keep_[k] = section.expect[k] < 0 ? 0 : static_cast<uint64_t>(section.expect[k]);
        kept_[k].clear();
        kept_[k].reserve(keep_[k] * WORDS);
    }
}

bool Harness::configure(const Section& section, Result& result) {
    const std::vector<uint32_t>& words = section.words;
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
        dram_drive();
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
        dram_sample();
        clock();
    }
}

bool Harness::start(Result& result) {
    top_->start = 1;
    dram_drive();
    top_->eval();
    dram_sample();
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
    dram_drive();
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
    dram_sample();
    clock();
}

bool Harness::complete() const {
    for (int k = 0; k < TZ_IO_OUT; ++k)
        if (section_->expect[k] >= 0 &&
            arrived_[k] < static_cast<uint64_t>(section_->expect[k]))
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

// The section's stream counts and kept vectors go into its result.
void Harness::finish(Result& result) {
    for (int k = 0; k < TZ_IO_IN; ++k) result.sent[k] = sent_[k];
    for (int k = 0; k < TZ_IO_OUT; ++k) {
        result.arrived[k] = arrived_[k];
        result.kept[k] = std::move(kept_[k]);
    }
}

Result Harness::run_section(uint64_t index) {
    const Section& section = job_.sections[index];
    Result result;
    // A section after the first begins at the falling edge that ends the previous one.
    if (index) quiet_streams();
    begin(section, index);
    bool configured = configure(section, result);
    if (configured && (result.cfg_error || (job_.flags & 1))) {
        // A rejected bitstream must leave the fabric unconfigured, not just late.
        for (uint64_t i = 0; i < section.words.size() + 64; ++i) dram_cycle();
        result.status = result.cfg_error ? CFG_ERROR : OK;
        result.configured = top_->configured;
        finish(result);
        return result;
    }
    if (!configured) {
        result.configured = top_->configured;
        finish(result);
        return result;
    }
    if (!top_->configured) {
        result.status = NOT_CONFIGURED;
        finish(result);
        return result;
    }
    if (!start(result)) {
        finish(result);
        return result;
    }

    using clock_type = std::chrono::steady_clock;
    const auto t0 = clock_type::now();
    auto shown = t0;
    uint64_t cycle = 0;
    bool shown_any = false;
    while (!complete()) {
        if (cycle == section.timeout) {
            result.status = TIMEOUT;
            result.running = top_->running;
            result.done = top_->done;
            result.cycles = top_->cycles;
            result.sim_cycles = cycle;
            result.wall_seconds =
                std::chrono::duration<double>(clock_type::now() - t0).count();
            if (shown_any) report(cycle, t0, true);
            finish(result);
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
    finish(result);
    return result;
}

std::vector<Result> Harness::run() {
    std::vector<Result> results;
    reset();
    for (uint64_t i = 0; i < job_.sections.size(); ++i) {
        results.push_back(run_section(i));
        if (results.back().status != OK) break;
    }
    return results;
}

void write_result(const char* path, const std::vector<Result>& results, const Harness& h) {
    std::string tmp = std::string(path) + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("cannot write " + tmp);
    auto out = [&](const void* p, std::size_t n) {
        if (n && std::fwrite(p, 1, n, f) != n) fail("cannot write " + tmp);
    };
    const uint32_t head[] = {static_cast<uint32_t>(results.size()), TZ_IO_IN, TZ_IO_OUT,
                             TZ_LANES};
    out(RESULT_MAGIC, 8);
    out(head, sizeof head);
    for (const Result& r : results) {
        const uint32_t fields[] = {r.status, r.cfg_error, r.configured, r.running, r.done, 0};
        out(fields, sizeof fields);
        out(&r.cycles, 8);
        out(&r.sim_cycles, 8);
        out(&r.wall_seconds, 8);
        out(&r.words_taken, 8);
        out(r.sent, 8 * TZ_IO_IN);
        out(r.arrived, 8 * TZ_IO_OUT);
        for (int k = 0; k < TZ_IO_OUT; ++k) {
            uint64_t kept = r.kept[k].size() / WORDS;
            out(&kept, 8);
        }
        for (int k = 0; k < TZ_IO_OUT; ++k) out(r.kept[k].data(), 4 * r.kept[k].size());
    }
    const uint64_t words = h.has_memory() ? h.memory().size() : 0;
    out(&words, 8);
    if (words) out(h.memory().data(), 4 * words);
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
    std::vector<Result> results = harness.run();
    write_result(paths[1], results, harness);
    return 0;
}
