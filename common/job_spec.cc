#include "common/job_spec.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "common/model_catalog.h"

namespace fedpress {
namespace {

using nlohmann::json;

class Checker {
 public:
  // `prefix` names a nested object in error fields ("aggregation.").
  Checker(const json& body, std::vector<FieldError>* errors, std::string prefix = "")
      : body_(body), errors_(errors), prefix_(std::move(prefix)) {}

  void Error(const std::string& field, const std::string& message) {
    errors_->push_back({prefix_ + field, message});
  }

  void Int(const char* field, int64_t lo, int64_t hi, int64_t* out) {
    seen_.insert(field);
    if (!body_.contains(field)) return;
    const json& v = body_[field];
    bool is_int = v.is_number_integer() ||
                  (v.is_number_float() && std::isfinite(v.get<double>()) &&
                   std::floor(v.get<double>()) == v.get<double>() && std::fabs(v.get<double>()) < 9e15);
    if (!is_int) {
      Error(field, "must be an integer between " + std::to_string(lo) + " and " +
                       std::to_string(hi) + ", got " + v.dump());
      return;
    }
    int64_t x = v.is_number_integer() && v.is_number_unsigned()
                    ? (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                            : v.get<int64_t>())
                    : static_cast<int64_t>(v.get<double>());
    if (x < lo || x > hi) {
      Error(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                       ", got " + v.dump());
      return;
    }
    *out = x;
  }

  void Uint64(const char* field, uint64_t* out) {
    seen_.insert(field);
    if (!body_.contains(field)) return;
    const json& v = body_[field];
    if (v.is_number_unsigned()) {
      *out = v.get<uint64_t>();
    } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
      *out = static_cast<uint64_t>(v.get<int64_t>());
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 &&
               std::floor(v.get<double>()) == v.get<double>() && v.get<double>() <= 9007199254740992.0) {
      *out = static_cast<uint64_t>(v.get<double>());
    } else {
      Error(field, "must be a non-negative integer, got " + v.dump());
    }
  }

  void Real(const char* field, double lo, bool lo_open, double hi, bool hi_open, double* out) {
    seen_.insert(field);
    if (!body_.contains(field)) return;
    const json& v = body_[field];
    if (!v.is_number() || !std::isfinite(v.get<double>())) {
      Error(field, "must be a number, got " + v.dump());
      return;
    }
    double x = v.get<double>();
    bool ok = (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
    if (!ok) {
      auto fmt = [](double d) {
        std::string s = std::to_string(d);
        while (s.size() > 1 && s.back() == '0') s.pop_back();
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
      };
      Error(field, std::string("must be in ") + (lo_open ? "(" : "[") + fmt(lo) + ", " + fmt(hi) +
                       (hi_open ? ")" : "]") + ", got " + v.dump());
      return;
    }
    *out = x;
  }

  void Enum(const char* field, std::span<const char* const> allowed, std::string* out) {
    seen_.insert(field);
    if (!body_.contains(field)) return;
    const json& v = body_[field];
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    if (!v.is_string()) {
      Error(field, "must be one of " + list + ", got " + v.dump());
      return;
    }
    for (const char* a : allowed)
      if (v.get<std::string>() == a) {
        *out = a;
        return;
      }
    Error(field, "must be one of " + list + ", got " + v.dump());
  }

  void Seen(const char* field) { seen_.insert(field); }

  void RejectUnknown() {
    for (auto it = body_.begin(); it != body_.end(); ++it)
      if (!seen_.count(it.key()))
        Error(it.key(), "unknown field (check the spelling; see docs/api.md)");
  }

 private:
  const json& body_;
  std::vector<FieldError>* errors_;
  std::string prefix_;
  std::set<std::string> seen_;
};

std::string Megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

void ParseAggregation(const json& body, AggregationSpec* out, std::vector<FieldError>* errors) {
  if (!body.is_object()) {
    errors->push_back({"aggregation", "must be an object, e.g. {\"strategy\":\"median\"}"});
    return;
  }
  AggregationSpec a;
  Checker c(body, errors, "aggregation.");
  c.Enum("strategy", kKnownAggregationStrategies, &a.strategy);
  c.Real("trim_ratio", 0, false, 0.5, true, &a.trim_ratio);
  c.Real("clip_norm", 0, false, 1e30, false, &a.clip_norm);
  c.Real("adaptive_clip", 0, false, 1e6, false, &a.adaptive_clip);
  c.Real("outlier_factor", 1, true, 1e6, false, &a.outlier_factor);
  c.RejectUnknown();
  if (a.adaptive_clip > 0 && a.adaptive_clip < 1)
    c.Error("adaptive_clip", "must be 0 (off) or at least 1 (a multiple of the round's median update "
                             "norm; below 1 most honest updates would be clipped), got " +
                                 body["adaptive_clip"].dump());
  if (a.adaptive_clip > 0 && a.clip_norm > 0)
    c.Error("adaptive_clip", "cannot be combined with clip_norm: choose a fixed or an adaptive bound");
  *out = a;
}

}  // namespace

json AggregationSpec::ToJson() const {
  return json{{"strategy", strategy},
              {"trim_ratio", trim_ratio},
              {"clip_norm", clip_norm},
              {"adaptive_clip", adaptive_clip},
              {"outlier_factor", outlier_factor}};
}

uint64_t RoundMemoryBytes(const JobSpec& spec) {
  if (!spec.aggregation.NeedsAllUpdates()) return 0;
  auto model = FindModel(spec.model);
  if (!model || spec.clients_per_round <= 0) return 0;
  return static_cast<uint64_t>(spec.clients_per_round) * model->parameters * sizeof(float);
}

json JobSpec::ToJson() const {
  return json{{"name", name},
              {"model", model},
              {"dataset", dataset},
              {"rounds", rounds},
              {"clients_per_round", clients_per_round},
              {"min_clients", min_clients},
              {"local_epochs", local_epochs},
              {"batch_size", batch_size},
              {"lr", lr},
              {"momentum", momentum},
              {"round_timeout_s", round_timeout_s},
              {"seed", seed},
              {"compression", compression},
              {"aggregation", aggregation.ToJson()},
              {"evaluation", evaluation}};
}

JobSpecParse ParseJobSpec(const json& body, const CompressionValidator& validate_compression,
                          const JobSpecLimits& limits) {
  JobSpecParse out;
  auto& errors = out.errors;
  if (!body.is_object()) {
    errors.push_back({"", "the job spec must be a JSON object"});
    return out;
  }
  JobSpec s;
  Checker c(body, &errors);

  c.Seen("name");
  if (!body.contains("name")) {
    errors.push_back({"name", "is required (1..100 characters)"});
  } else if (!body["name"].is_string() || body["name"].get<std::string>().empty() ||
             body["name"].get<std::string>().size() > 100) {
    errors.push_back({"name", "must be a string of 1..100 characters, got " + body["name"].dump()});
  } else {
    s.name = body["name"].get<std::string>();
    for (unsigned char ch : s.name)
      if (ch < 0x20 || ch == 0x7f) {
        errors.push_back({"name", "must not contain control characters"});
        break;
      }
  }
  c.Enum("model", kKnownModels, &s.model);
  c.Enum("dataset", kKnownDatasets, &s.dataset);
  c.Int("rounds", 1, 100000, &s.rounds);
  c.Int("clients_per_round", 1, 100000, &s.clients_per_round);
  c.Int("min_clients", 1, 100000, &s.min_clients);
  c.Int("local_epochs", 1, 100, &s.local_epochs);
  c.Int("batch_size", 1, 4096, &s.batch_size);
  c.Real("lr", 0, true, 10, false, &s.lr);
  c.Real("momentum", 0, false, 1, true, &s.momentum);
  c.Real("round_timeout_s", 1, false, 86400, false, &s.round_timeout_s);
  c.Uint64("seed", &s.seed);
  if (s.seed > (uint64_t{1} << 53)) errors.push_back({"seed", "must be at most 2^53"});
  c.Enum("evaluation", kKnownEvaluationModes, &s.evaluation);

  c.Seen("compression");
  if (body.contains("compression")) {
    const json& comp = body["compression"];
    if (!comp.is_object()) {
      errors.push_back({"compression", "must be an object, e.g. {\"preset\":\"topk1%-q4\"}"});
    } else if (validate_compression) {
      if (auto norm = validate_compression(comp, &errors)) s.compression = *norm;
    } else if (comp != json{{"method", "none"}} && !comp.empty()) {
      errors.push_back({"compression", "only {\"method\":\"none\"} is supported by this build"});
    }
  }
  c.Seen("aggregation");
  if (body.contains("aggregation")) ParseAggregation(body["aggregation"], &s.aggregation, &errors);
  c.RejectUnknown();

  if (body.contains("min_clients") && s.min_clients > s.clients_per_round &&
      body["min_clients"].is_number())
    errors.push_back({"min_clients", "must not exceed clients_per_round (" +
                                         std::to_string(s.clients_per_round) + ")"});
  // Default quorum: half the picked clients (rounded up), so one slow or lost
  // client does not stall a round.
  if (s.min_clients == 0) s.min_clients = (s.clients_per_round + 1) / 2;

  // Robust aggregation holds a whole round of dense updates: refuse a job
  // that could not fit in this server's bound, before it is queued.
  const uint64_t round_memory = RoundMemoryBytes(s);
  if (limits.max_round_memory_bytes > 0 && round_memory > limits.max_round_memory_bytes) {
    const bool by_strategy = s.aggregation.strategy != "fedavg";
    errors.push_back(
        {by_strategy ? "aggregation.strategy" : "aggregation.adaptive_clip",
         std::string(by_strategy ? s.aggregation.strategy : "adaptive_clip") +
             " keeps every update of a round in memory: clients_per_round " +
             std::to_string(s.clients_per_round) + " x " + s.model + " (" +
             Megabytes(RoundMemoryBytes(s) / static_cast<uint64_t>(s.clients_per_round)) + ") = " +
             Megabytes(round_memory) + ", over this server's --max-round-memory of " +
             Megabytes(limits.max_round_memory_bytes) +
             "; lower clients_per_round, pick a smaller model, or use fedavg with clip_norm"});
  }

  if (errors.empty()) out.spec = std::move(s);
  return out;
}

}  // namespace fedpress
