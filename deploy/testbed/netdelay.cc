// fedpress-netdelay: a fixed one-way packet delay through NFQUEUE, for the
// testbed (deploy/testbed/testbed.sh) on kernels without the netem qdisc.
//
// It binds one NFQUEUE queue of the network namespace it runs in, notes each
// queued packet's id with a release time (arrival + delay) in a FIFO, and
// issues NF_ACCEPT for the packets in arrival order once their time has come.
// Only metadata is copied to user space (NFQNL_COPY_META); GSO packets are
// queued whole (NFQA_CFG_F_GSO). iptables rules decide which packets go to the
// queue, e.g. for what arrives on a namespace's link:
//   iptables -t mangle -A PREROUTING -i eth0 -j NFQUEUE --queue-num 1
// Delay packets where they arrive (PREROUTING), not as they leave the sending
// host (POSTROUTING): a held outgoing packet still counts against its TCP
// socket's small-queue budget (TSQ), which then stalls the sender well below
// the link's rate (netem orphans the packets it delays; NFQUEUE cannot).
//
// Fail-closed, on purpose: the queue is NOT fail-open and the rules should NOT
// use --queue-bypass. If this tool dies (or its queue overflows), the link
// drops packets instead of silently carrying them undelayed, so a measurement
// can never be taken on a link that quietly lost its delay: the run stalls or
// fails and says so. The queue is large (--queue-maxlen), the netlink socket's
// receive buffer too (--rcvbuf-mb), so neither overflows at testbed rates.
//
// On SIGTERM or SIGINT it accepts every packet it still holds, unbinds the
// queue, prints its counters and exits 0. Bad command lines exit 2; failures
// to set up the queue (not root, queue number taken) exit 1.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "Usage: fedpress-netdelay --delay-ms MS [--queue N] [--queue-maxlen N] [--rcvbuf-mb N]\n"
    "\n"
    "Holds every packet that iptables sends to NFQUEUE queue N (of this network\n"
    "namespace) for MS milliseconds, then accepts it; packets leave in arrival order.\n"
    "Used by deploy/testbed/testbed.sh for link delay where the kernel has no netem.\n"
    "Needs root (CAP_NET_ADMIN). Fail-closed: while it is not running, packets sent\n"
    "to the queue are dropped (do not use --queue-bypass when measuring).\n"
    "\n"
    "  --delay-ms MS        delay per packet, 0..60000 ms (required)\n"
    "  --queue N            NFQUEUE queue number, 0..65535 (default 0)\n"
    "  --queue-maxlen N     packets the kernel may hold for this queue (default 20000)\n"
    "  --rcvbuf-mb N        netlink socket receive buffer, MiB (default 32)\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints 'ready' on stderr once the queue is bound. SIGTERM/SIGINT: accepts the\n"
    "packets it holds, prints its counters, exits 0. Exit 2: bad command line;\n"
    "exit 1: the queue could not be set up.\n";

struct Options {
  unsigned delay_ms = 0;
  bool have_delay = false;
  unsigned queue = 0;
  unsigned maxlen = 20000;
  unsigned rcvbuf_mb = 32;
};

std::optional<unsigned> ParseUnsigned(std::string_view s, unsigned lo, unsigned hi) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// Returns -1 to go on, else the exit code (0 after --help, 2 on bad input).
int ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string_view name = arg, value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    struct Spec {
      std::string_view name;
      unsigned* out;
      unsigned lo, hi;
    };
    const Spec specs[] = {{"--delay-ms", &o.delay_ms, 0, 60000},
                          {"--queue", &o.queue, 0, 65535},
                          {"--queue-maxlen", &o.maxlen, 1, 1000000},
                          {"--rcvbuf-mb", &o.rcvbuf_mb, 1, 1024}};
    const Spec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) {
      std::fprintf(stderr, "fedpress-netdelay: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fedpress-netdelay: %s needs a value (see --help)\n", spec->name.data());
        return 2;
      }
      value = argv[++i];
    }
    auto v = ParseUnsigned(value, spec->lo, spec->hi);
    if (!v) {
      std::fprintf(stderr, "fedpress-netdelay: %s must be an integer in %u..%u, got '%.*s'\n",
                   spec->name.data(), spec->lo, spec->hi, static_cast<int>(value.size()), value.data());
      return 2;
    }
    *spec->out = *v;
    if (spec->out == &o.delay_ms) o.have_delay = true;
  }
  if (!o.have_delay) {
    std::fputs("fedpress-netdelay: --delay-ms is required (see --help)\n", stderr);
    return 2;
  }
  return -1;
}

struct Held {
  uint32_t id;
  Clock::time_point release;
};

struct State {
  Clock::duration delay{};
  std::deque<Held> fifo;
  uint64_t packets = 0;
  uint64_t no_header = 0;
  size_t max_held = 0;
};

int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* nfa, void* data) {
  auto* st = static_cast<State*>(data);
  nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) {  // cannot happen for a packet message; nothing to give a verdict for
    ++st->no_header;
    return 0;
  }
  st->fifo.push_back({ntohl(ph->packet_id), Clock::now() + st->delay});
  ++st->packets;
  if (st->fifo.size() > st->max_held) st->max_held = st->fifo.size();
  return 0;
}

// The kernel's counters for this queue (/proc/net/netfilter/nfnetlink_queue of
// this namespace): packets it dropped because the queue was full, and because
// the netlink message could not be delivered to us.
std::string KernelCounters(unsigned queue) {
  std::ifstream f("/proc/net/netfilter/nfnetlink_queue");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    unsigned num = 0, portid = 0, total = 0, mode = 0, range = 0, qdrop = 0, udrop = 0;
    if (in >> num >> portid >> total >> mode >> range >> qdrop >> udrop && num == queue)
      return "kernel queue_dropped " + std::to_string(qdrop) + ", user_dropped " + std::to_string(udrop);
  }
  return "kernel counters unavailable";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (int rc = ParseArgs(argc, argv, opt); rc >= 0) return rc;

  // SIGTERM/SIGINT arrive through a signalfd polled with the queue's socket.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    std::perror("fedpress-netdelay: sigprocmask");
    return 1;
  }
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    std::perror("fedpress-netdelay: signalfd");
    return 1;
  }

  State st;
  st.delay = std::chrono::milliseconds(opt.delay_ms);

  nfq_handle* h = nfq_open();
  if (!h) {
    std::fprintf(stderr, "fedpress-netdelay: cannot open an nfnetlink queue socket: %s%s\n", std::strerror(errno),
                 errno == EPERM ? " (needs root / CAP_NET_ADMIN)" : "");
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(h, static_cast<uint16_t>(opt.queue), &OnPacket, &st);
  if (!qh) {
    std::fprintf(stderr,
                 "fedpress-netdelay: cannot bind NFQUEUE queue %u: %s (another program may hold it, or the "
                 "kernel has no CONFIG_NETFILTER_NETLINK_QUEUE)\n",
                 opt.queue, std::strerror(errno));
    nfq_close(h);
    return 1;
  }
  auto fail_setup = [&](const char* what) {
    std::fprintf(stderr, "fedpress-netdelay: %s on queue %u: %s\n", what, opt.queue, std::strerror(errno));
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 1;
  };
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) return fail_setup("cannot set copy mode");
  if (nfq_set_queue_maxlen(qh, opt.maxlen) < 0) return fail_setup("cannot set the queue length");
  // GSO packets whole (no segmentation for our sake); fail-open stays off.
  if (nfq_set_queue_flags(qh, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO) < 0)
    std::fprintf(stderr, "fedpress-netdelay: warning: the kernel refused NFQA_CFG_F_GSO (%s): GSO packets are "
                 "segmented before queueing\n", std::strerror(errno));
  unsigned rcvbuf = nfnl_rcvbufsiz(nfq_nfnlh(h), opt.rcvbuf_mb * 1024u * 1024u);
  int fd = nfq_fd(h);

  std::fprintf(stderr, "fedpress-netdelay: queue %u: holding each packet %u ms (queue maxlen %u, rcvbuf %u B)\n",
               opt.queue, opt.delay_ms, opt.maxlen, rcvbuf);
  std::fputs("ready\n", stderr);

  alignas(8) static char buf[256 * 1024];
  uint64_t enobufs = 0, verdict_errors = 0;
  int rc = 0;
  // Accepts every held packet released by `until` (all of them: Clock::time_point::max()).
  // Ids grow in arrival order, so one batch verdict for the last due id accepts them all.
  auto release = [&](Clock::time_point until) {
    std::optional<uint32_t> last;
    while (!st.fifo.empty() && st.fifo.front().release <= until) {
      last = st.fifo.front().id;
      st.fifo.pop_front();
    }
    if (last && nfq_set_verdict_batch(qh, *last, NF_ACCEPT) < 0) {
      if (verdict_errors++ < 5)
        std::fprintf(stderr, "fedpress-netdelay: verdict for packet %u failed: %s\n", *last, std::strerror(errno));
    }
  };

  bool stop = false;
  while (!stop) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    timespec ts{}, *tsp = nullptr;
    if (!st.fifo.empty()) {
      auto wait = st.fifo.front().release - Clock::now();
      if (wait < Clock::duration::zero()) wait = Clock::duration::zero();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      tsp = &ts;
    }
    if (ppoll(fds, 2, tsp, nullptr) < 0 && errno != EINTR) {
      std::perror("fedpress-netdelay: ppoll");
      rc = 1;
      break;
    }
    if (fds[1].revents & POLLIN) stop = true;
    if (fds[0].revents & (POLLIN | POLLERR)) {
      for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          nfq_handle_packet(h, buf, static_cast<int>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == ENOBUFS) {  // messages lost: their packets wait in the kernel
          if (enobufs++ < 5)
            std::fputs("fedpress-netdelay: warning: netlink receive buffer overflowed (ENOBUFS)\n", stderr);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        std::fprintf(stderr, "fedpress-netdelay: recv: %s\n", n == 0 ? "socket closed" : std::strerror(errno));
        rc = 1;
        stop = true;
        break;
      }
    }
    release(Clock::now());
  }

  release(Clock::time_point::max());
  std::fprintf(stderr,
               "fedpress-netdelay: queue %u: %llu packets delayed %u ms, at most %zu held at once, %llu ENOBUFS, "
               "%llu failed verdicts; %s\n",
               opt.queue, static_cast<unsigned long long>(st.packets), opt.delay_ms, st.max_held,
               static_cast<unsigned long long>(enobufs), static_cast<unsigned long long>(verdict_errors),
               KernelCounters(opt.queue).c_str());
  nfq_destroy_queue(qh);
  nfq_close(h);
  close(sfd);
  return rc;
}
