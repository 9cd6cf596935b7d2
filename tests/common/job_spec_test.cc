#include "common/job_spec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace fedpress {
namespace {

using nlohmann::json;

json Minimal() { return json{{"name", "exp-1"}}; }

json With(const std::string& field, const json& value) {
  json j = Minimal();
  j[field] = value;
  return j;
}

std::vector<std::string> Fields(const JobSpecParse& p) {
  std::vector<std::string> out;
  for (const auto& e : p.errors) out.push_back(e.field);
  return out;
}

std::string Dump(const JobSpecParse& p) {
  std::string s;
  for (const auto& e : p.errors) s += "[" + e.field + ": " + e.message + "] ";
  return s;
}

// Asserts the body is rejected with exactly one error, on `field`.
void ExpectOnlyError(const json& body, const std::string& field, const std::string& needle = "") {
  auto p = ParseJobSpec(body);
  EXPECT_FALSE(p.spec.has_value()) << body.dump();
  ASSERT_EQ(p.errors.size(), 1u) << body.dump() << " -> " << Dump(p);
  EXPECT_EQ(p.errors[0].field, field) << body.dump() << " -> " << Dump(p);
  EXPECT_FALSE(p.errors[0].message.empty());
  if (!needle.empty()) {
    EXPECT_NE(p.errors[0].message.find(needle), std::string::npos)
        << "'" << p.errors[0].message << "' lacks '" << needle << "'";
  }
}

JobSpec ParseOk(const json& body, const CompressionValidator& v = {}) {
  auto p = ParseJobSpec(body, v);
  EXPECT_TRUE(p.errors.empty()) << body.dump() << " -> " << Dump(p);
  EXPECT_TRUE(p.spec.has_value());
  if (!p.spec) return JobSpec{};
  return std::move(*p.spec);
}

TEST(JobSpec, Defaults) {
  JobSpec s = ParseOk(Minimal());
  EXPECT_EQ(s.name, "exp-1");
  EXPECT_EQ(s.model, "cnn");
  EXPECT_EQ(s.dataset, "fashion-mnist");
  EXPECT_EQ(s.rounds, 10);
  EXPECT_EQ(s.clients_per_round, 4);
  EXPECT_EQ(s.min_clients, 2);
  EXPECT_EQ(s.local_epochs, 1);
  EXPECT_EQ(s.batch_size, 32);
  EXPECT_DOUBLE_EQ(s.lr, 0.05);
  EXPECT_DOUBLE_EQ(s.momentum, 0.9);
  EXPECT_DOUBLE_EQ(s.round_timeout_s, 120);
  EXPECT_EQ(s.seed, 1u);
  EXPECT_EQ(s.compression, (json{{"method", "none"}}));
  EXPECT_EQ(s.evaluation, "pipelined");
  EXPECT_TRUE(s.PipelinedEvaluation());
}

TEST(JobSpec, MinClientsDefaultsToHalfRoundedUp) {
  for (auto [k, want] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {10, 5}, {11, 6}, {100000, 50000}}) {
    JobSpec s = ParseOk(With("clients_per_round", k));
    EXPECT_EQ(s.clients_per_round, k);
    EXPECT_EQ(s.min_clients, want) << "clients_per_round " << k;
  }
  json j = Minimal();
  j["clients_per_round"] = 6;
  j["min_clients"] = 6;
  EXPECT_EQ(ParseOk(j).min_clients, 6);
  j["min_clients"] = 1;
  EXPECT_EQ(ParseOk(j).min_clients, 1);
}

TEST(JobSpec, AllFieldsSet) {
  json j = {{"name", "full"},       {"model", "mlp"},         {"dataset", "fashion-mnist"},
            {"rounds", 50},         {"clients_per_round", 8}, {"min_clients", 3},
            {"local_epochs", 5},    {"batch_size", 128},      {"lr", 0.1},
            {"momentum", 0.0},      {"round_timeout_s", 30.5}, {"seed", 12345},
            {"compression", {{"method", "none"}}}};
  JobSpec s = ParseOk(j);
  EXPECT_EQ(s.name, "full");
  EXPECT_EQ(s.model, "mlp");
  EXPECT_EQ(s.rounds, 50);
  EXPECT_EQ(s.clients_per_round, 8);
  EXPECT_EQ(s.min_clients, 3);
  EXPECT_EQ(s.local_epochs, 5);
  EXPECT_EQ(s.batch_size, 128);
  EXPECT_DOUBLE_EQ(s.lr, 0.1);
  EXPECT_DOUBLE_EQ(s.momentum, 0.0);
  EXPECT_DOUBLE_EQ(s.round_timeout_s, 30.5);
  EXPECT_EQ(s.seed, 12345u);
  for (const char* m : kKnownModels) EXPECT_EQ(ParseOk(With("model", m)).model, m);
}

TEST(JobSpec, NameRules) {
  ExpectOnlyError(json::object(), "name", "required");
  ExpectOnlyError(With("name", ""), "name");
  ExpectOnlyError(With("name", std::string(101, 'n')), "name");
  ExpectOnlyError(With("name", 42), "name");
  ExpectOnlyError(With("name", nullptr), "name");
  ExpectOnlyError(With("name", json::array({"a"})), "name");
  ExpectOnlyError(With("name", "line\nbreak"), "name", "control characters");
  ExpectOnlyError(With("name", "tab\there"), "name", "control characters");
  ExpectOnlyError(With("name", std::string("nul\0x", 5)), "name", "control characters");
  ExpectOnlyError(With("name", "del\x7f"), "name", "control characters");
  EXPECT_EQ(ParseOk(With("name", std::string(100, 'n'))).name, std::string(100, 'n'));
  EXPECT_EQ(ParseOk(With("name", "Fashion \xc3\xa9xp\xc3\xa9rience #2")).name,
            "Fashion \xc3\xa9xp\xc3\xa9rience #2");
}

TEST(JobSpec, EnumFields) {
  ExpectOnlyError(With("model", "resnet"), "model", "mlp, cnn, cnn-large");
  ExpectOnlyError(With("model", 1), "model");
  ExpectOnlyError(With("model", "CNN"), "model");
  ExpectOnlyError(With("dataset", "mnist"), "dataset", "fashion-mnist");
  ExpectOnlyError(With("dataset", nullptr), "dataset");
  ExpectOnlyError(With("evaluation", "lazy"), "evaluation", "pipelined, blocking");
  ExpectOnlyError(With("evaluation", true), "evaluation");
  JobSpec blocking = ParseOk(With("evaluation", "blocking"));
  EXPECT_FALSE(blocking.PipelinedEvaluation());
  EXPECT_EQ(blocking.ToJson()["evaluation"], "blocking");
}

struct IntField {
  const char* name;
  int64_t lo, hi;
};
const IntField kIntFields[] = {
    {"rounds", 1, 100000},      {"clients_per_round", 1, 100000}, {"min_clients", 1, 100000},
    {"local_epochs", 1, 100},   {"batch_size", 1, 4096},
};

// Makes min_clients testable on its own: its upper bound is clients_per_round.
json BodyFor(const char* field, const json& v) {
  json j = With(field, v);
  if (std::string(field) == "min_clients") j["clients_per_round"] = 100000;
  return j;
}

TEST(JobSpec, IntegerFieldsTypeAndRange) {
  for (const auto& f : kIntFields) {
    SCOPED_TRACE(f.name);
    // Bounds are inclusive.
    EXPECT_TRUE(ParseJobSpec(BodyFor(f.name, f.lo)).spec.has_value());
    EXPECT_TRUE(ParseJobSpec(BodyFor(f.name, f.hi)).spec.has_value());
    ExpectOnlyError(BodyFor(f.name, f.lo - 1), f.name, "between " + std::to_string(f.lo));
    ExpectOnlyError(BodyFor(f.name, f.hi + 1), f.name, std::to_string(f.hi));
    ExpectOnlyError(BodyFor(f.name, -1), f.name);
    ExpectOnlyError(BodyFor(f.name, "3"), f.name, "integer");
    ExpectOnlyError(BodyFor(f.name, true), f.name, "integer");
    ExpectOnlyError(BodyFor(f.name, nullptr), f.name, "integer");
    ExpectOnlyError(BodyFor(f.name, json::object()), f.name, "integer");
    ExpectOnlyError(BodyFor(f.name, json::array({3})), f.name, "integer");
    // 3.0 is an integer written as a float; 3.5 is not.
    EXPECT_TRUE(ParseJobSpec(BodyFor(f.name, 3.0)).spec.has_value());
    ExpectOnlyError(BodyFor(f.name, 3.5), f.name, "integer");
    ExpectOnlyError(BodyFor(f.name, 1.0000001), f.name, "integer");
    // Huge numbers of every JSON representation are range errors, not wraps.
    ExpectOnlyError(BodyFor(f.name, std::numeric_limits<uint64_t>::max()), f.name);
    ExpectOnlyError(BodyFor(f.name, std::numeric_limits<int64_t>::max()), f.name);
    ExpectOnlyError(BodyFor(f.name, std::numeric_limits<int64_t>::min()), f.name);
    ExpectOnlyError(BodyFor(f.name, uint64_t{1} << 63), f.name);
    ExpectOnlyError(BodyFor(f.name, 1e300), f.name);
    ExpectOnlyError(BodyFor(f.name, -1e300), f.name);
    ExpectOnlyError(BodyFor(f.name, 4294967297.0), f.name);  // 2^32 + 1: no truncation
    ExpectOnlyError(BodyFor(f.name, std::numeric_limits<double>::quiet_NaN()), f.name);
    ExpectOnlyError(BodyFor(f.name, std::numeric_limits<double>::infinity()), f.name);
  }
  EXPECT_EQ(ParseOk(With("rounds", 3.0)).rounds, 3);
  EXPECT_EQ(ParseOk(json::parse(R"({"name":"x","rounds":3.0,"batch_size":6.4e1})")).batch_size, 64);
  ExpectOnlyError(json::parse(R"({"name":"x","rounds":3.5})"), "rounds");
  ExpectOnlyError(json::parse(R"({"name":"x","rounds":123456789012345678901234567890})"), "rounds");
}

struct RealField {
  const char* name;
  double good_lo, good_hi, bad_lo, bad_hi;
};
const RealField kRealFields[] = {
    {"lr", 1e-9, 10.0, 0.0, 10.000001},
    {"momentum", 0.0, 0.999999, -1e-9, 1.0},
    {"round_timeout_s", 1.0, 86400.0, 0.999, 86400.5},
};

TEST(JobSpec, RealFieldsTypeAndRange) {
  for (const auto& f : kRealFields) {
    SCOPED_TRACE(f.name);
    EXPECT_TRUE(ParseJobSpec(With(f.name, f.good_lo)).spec.has_value());
    EXPECT_TRUE(ParseJobSpec(With(f.name, f.good_hi)).spec.has_value());
    ExpectOnlyError(With(f.name, f.bad_lo), f.name, "must be in");
    ExpectOnlyError(With(f.name, f.bad_hi), f.name, "must be in");
    ExpectOnlyError(With(f.name, "0.1"), f.name, "number");
    ExpectOnlyError(With(f.name, nullptr), f.name, "number");
    ExpectOnlyError(With(f.name, false), f.name, "number");
    ExpectOnlyError(With(f.name, std::numeric_limits<double>::quiet_NaN()), f.name);
    ExpectOnlyError(With(f.name, std::numeric_limits<double>::infinity()), f.name);
    ExpectOnlyError(With(f.name, -std::numeric_limits<double>::infinity()), f.name);
    ExpectOnlyError(With(f.name, 1e300), f.name);
  }
  // Integers are fine for real fields.
  EXPECT_DOUBLE_EQ(ParseOk(With("lr", 1)).lr, 1.0);
  EXPECT_DOUBLE_EQ(ParseOk(With("round_timeout_s", 600)).round_timeout_s, 600.0);
  ExpectOnlyError(With("lr", 0), "lr", "(0, 10]");
  ExpectOnlyError(With("momentum", 1), "momentum", "[0, 1)");
  ExpectOnlyError(With("round_timeout_s", 0), "round_timeout_s", "[1, 86400]");
}

TEST(JobSpec, Seed) {
  EXPECT_EQ(ParseOk(With("seed", 0)).seed, 0u);
  EXPECT_EQ(ParseOk(With("seed", uint64_t{1} << 53)).seed, uint64_t{1} << 53);
  ExpectOnlyError(With("seed", (uint64_t{1} << 53) + 1), "seed", "2^53");
  ExpectOnlyError(With("seed", std::numeric_limits<uint64_t>::max()), "seed", "2^53");
  ExpectOnlyError(json::parse(R"({"name":"x","seed":18446744073709551615})"), "seed");
  ExpectOnlyError(json::parse(R"({"name":"x","seed":18446744073709551616})"), "seed");
  ExpectOnlyError(With("seed", -1), "seed", "non-negative");
  ExpectOnlyError(With("seed", 1.5), "seed");
  ExpectOnlyError(With("seed", "7"), "seed");
  ExpectOnlyError(With("seed", nullptr), "seed");
}

TEST(JobSpec, MinClientsMustNotExceedClientsPerRound) {
  json j = Minimal();
  j["clients_per_round"] = 4;
  j["min_clients"] = 5;
  ExpectOnlyError(j, "min_clients", "clients_per_round (4)");
  // Against the default clients_per_round (4) too.
  ExpectOnlyError(With("min_clients", 5), "min_clients", "(4)");
  j["min_clients"] = 4;
  EXPECT_TRUE(ParseJobSpec(j).spec.has_value());
}

TEST(JobSpec, UnknownFields) {
  ExpectOnlyError(With("round", 5), "round", "unknown field");
  ExpectOnlyError(With("Rounds", 5), "Rounds", "unknown field");
  ExpectOnlyError(With("", 5), "", "unknown field");
  json j = Minimal();
  j["foo"] = 1;
  j["bar"] = nullptr;
  auto p = ParseJobSpec(j);
  EXPECT_FALSE(p.spec);
  std::set<std::string> fields;
  for (const auto& f : Fields(p)) fields.insert(f);
  EXPECT_EQ(fields, (std::set<std::string>{"foo", "bar"}));
}

TEST(JobSpec, NonObjectBody) {
  for (const json& body : {json::array(), json::array({Minimal()}), json("name"), json(3),
                           json(nullptr), json(true)}) {
    auto p = ParseJobSpec(body);
    EXPECT_FALSE(p.spec) << body.dump();
    ASSERT_EQ(p.errors.size(), 1u) << body.dump();
    EXPECT_EQ(p.errors[0].field, "");
    EXPECT_NE(p.errors[0].message.find("object"), std::string::npos);
  }
}

TEST(JobSpec, ReportsEveryErrorAtOnce) {
  json j = {{"name", ""},          {"model", "vgg"},     {"rounds", 0},
            {"batch_size", 3.5},   {"lr", -1},           {"momentum", "high"},
            {"seed", -4},          {"colour", "blue"},   {"compression", "topk"},
            {"round_timeout_s", 0}, {"local_epochs", 101}};
  auto p = ParseJobSpec(j);
  EXPECT_FALSE(p.spec);
  std::multiset<std::string> got;
  for (const auto& f : Fields(p)) got.insert(f);
  std::multiset<std::string> want = {"name", "model",  "rounds", "batch_size",  "lr",
                                     "momentum", "seed", "colour", "compression", "round_timeout_s",
                                     "local_epochs"};
  EXPECT_EQ(got, want) << Dump(p);
  for (const auto& e : p.errors) EXPECT_FALSE(e.message.empty()) << e.field;
}

TEST(JobSpec, CompressionWithoutValidator) {
  EXPECT_EQ(ParseOk(Minimal()).compression, (json{{"method", "none"}}));
  EXPECT_EQ(ParseOk(With("compression", {{"method", "none"}})).compression, (json{{"method", "none"}}));
  // An empty object means "no compression" as well.
  EXPECT_EQ(ParseOk(With("compression", json::object())).compression, (json{{"method", "none"}}));
  ExpectOnlyError(With("compression", {{"method", "topk"}}), "compression", "only");
  ExpectOnlyError(With("compression", {{"preset", "topk1%-q4"}}), "compression");
  ExpectOnlyError(With("compression", {{"method", "none"}, {"bits", 4}}), "compression");
  ExpectOnlyError(With("compression", "none"), "compression", "object");
  ExpectOnlyError(With("compression", nullptr), "compression", "object");
  ExpectOnlyError(With("compression", json::array()), "compression", "object");
}

TEST(JobSpec, CompressionValidatorIsCalledAndItsResultUsed) {
  int calls = 0;
  json seen;
  CompressionValidator v = [&](const json& comp, std::vector<FieldError>*) -> std::optional<json> {
    ++calls;
    seen = comp;
    return json{{"method", "topk"}, {"ratio", 0.01}, {"normalised", true}};
  };
  JobSpec s = ParseOk(With("compression", {{"preset", "topk1%"}}), v);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, (json{{"preset", "topk1%"}}));
  EXPECT_EQ(s.compression, (json{{"method", "topk"}, {"ratio", 0.01}, {"normalised", true}}));

  // Absent compression: the validator is not consulted; the default stands.
  calls = 0;
  EXPECT_EQ(ParseOk(Minimal(), v).compression, (json{{"method", "none"}}));
  EXPECT_EQ(calls, 0);
  // Non-objects are refused before the validator sees them.
  auto p = ParseJobSpec(With("compression", 5), v);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(Fields(p), std::vector<std::string>{"compression"});
}

TEST(JobSpec, CompressionValidatorErrorsArePropagated) {
  CompressionValidator v = [](const json&, std::vector<FieldError>* errors) -> std::optional<json> {
    errors->push_back({"compression.sparsify.ratio", "must be in (0, 1], got 2"});
    errors->push_back({"compression.quantize.bits", "must be 2, 4 or 8, got 3"});
    return std::nullopt;
  };
  json j = With("compression", {{"sparsify", {{"ratio", 2}}}, {"quantize", {{"bits", 3}}}});
  j["rounds"] = 0;  // plus an ordinary error
  auto p = ParseJobSpec(j, v);
  EXPECT_FALSE(p.spec);
  std::multiset<std::string> got;
  for (const auto& f : Fields(p)) got.insert(f);
  EXPECT_EQ(got, (std::multiset<std::string>{"compression.sparsify.ratio",
                                             "compression.quantize.bits", "rounds"}))
      << Dump(p);
  for (const auto& e : p.errors)
    if (e.field == "compression.quantize.bits") {
      EXPECT_EQ(e.message, "must be 2, 4 or 8, got 3");
    }
}

TEST(JobSpec, ToJsonRoundTrips) {
  std::vector<json> bodies = {
      Minimal(),
      json{{"name", "a \"quoted\" \xc3\xa9 name"},
       {"model", "cnn-large"},
       {"rounds", 100000},
       {"clients_per_round", 7},
       {"min_clients", 7},
       {"local_epochs", 100},
       {"batch_size", 4096},
       {"lr", 0.1 + 0.2},  // not exactly representable in short decimal
       {"momentum", 0.123456789012345},
       {"round_timeout_s", 86400},
       {"seed", uint64_t{1} << 53}},
      With("clients_per_round", 9),
  };
  for (const json& body : bodies) {
    SCOPED_TRACE(body.dump());
    JobSpec a = ParseOk(body);
    // Through the value and through text (as stored in the database).
    for (const json& again : {a.ToJson(), json::parse(a.ToJson().dump())}) {
      JobSpec b = ParseOk(again);
      EXPECT_EQ(b.name, a.name);
      EXPECT_EQ(b.model, a.model);
      EXPECT_EQ(b.dataset, a.dataset);
      EXPECT_EQ(b.rounds, a.rounds);
      EXPECT_EQ(b.clients_per_round, a.clients_per_round);
      EXPECT_EQ(b.min_clients, a.min_clients);
      EXPECT_EQ(b.local_epochs, a.local_epochs);
      EXPECT_EQ(b.batch_size, a.batch_size);
      EXPECT_EQ(b.lr, a.lr);  // bit-exact
      EXPECT_EQ(b.momentum, a.momentum);
      EXPECT_EQ(b.round_timeout_s, a.round_timeout_s);
      EXPECT_EQ(b.seed, a.seed);
      EXPECT_EQ(b.compression, a.compression);
      EXPECT_EQ(b.ToJson(), a.ToJson());
    }
  }
  // ToJson names every field, so a stored spec does not depend on defaults.
  json out = ParseOk(Minimal()).ToJson();
  for (const char* f : {"name", "model", "dataset", "rounds", "clients_per_round", "min_clients",
                        "local_epochs", "batch_size", "lr", "momentum", "round_timeout_s", "seed",
                        "compression", "aggregation", "evaluation"})
    EXPECT_TRUE(out.contains(f)) << f;
  EXPECT_EQ(out.size(), 15u);
  EXPECT_EQ(out["aggregation"], (json{{"strategy", "fedavg"}, {"trim_ratio", 0.2}, {"clip_norm", 0.0},
                                      {"adaptive_clip", 0.0}, {"outlier_factor", 3.0}}));
}

TEST(JobSpec, ToJsonRoundTripsWithValidatedCompression) {
  CompressionValidator v = [](const json& c, std::vector<FieldError>*) -> std::optional<json> {
    json n = c;
    n["normalised"] = true;
    return n;
  };
  JobSpec a = ParseOk(With("compression", {{"method", "topk"}}), v);
  JobSpec b = ParseOk(json::parse(a.ToJson().dump()), v);
  EXPECT_EQ(b.ToJson(), a.ToJson());
}

// --- aggregation ------------------------------------------------------------

TEST(JobSpec, AggregationDefaultsToPlainFedAvg) {
  JobSpec s = ParseOk(Minimal());
  EXPECT_EQ(s.aggregation.strategy, "fedavg");
  EXPECT_EQ(s.aggregation.clip_norm, 0.0);
  EXPECT_EQ(s.aggregation.adaptive_clip, 0.0);
  EXPECT_EQ(s.aggregation.outlier_factor, 3.0);
  EXPECT_FALSE(s.aggregation.NeedsAllUpdates());
  EXPECT_EQ(RoundMemoryBytes(s), 0u);
  // A spec stored before the field existed parses the same way.
  EXPECT_EQ(ParseOk(With("aggregation", json::object())).aggregation.ToJson(), s.aggregation.ToJson());
}

TEST(JobSpec, AggregationStrategiesAndRoundTrip) {
  json body = With("aggregation", {{"strategy", "trimmed_mean"}, {"trim_ratio", 0.1}, {"clip_norm", 12.5},
                                   {"outlier_factor", 4}});
  body["clients_per_round"] = 5;
  body["model"] = "mlp";
  JobSpec a = ParseOk(body);
  EXPECT_EQ(a.aggregation.strategy, "trimmed_mean");
  EXPECT_EQ(a.aggregation.trim_ratio, 0.1);
  EXPECT_EQ(a.aggregation.clip_norm, 12.5);
  EXPECT_EQ(a.aggregation.outlier_factor, 4.0);
  EXPECT_TRUE(a.aggregation.NeedsAllUpdates());
  EXPECT_EQ(RoundMemoryBytes(a), 5u * 199210u * 4u);
  JobSpec b = ParseOk(json::parse(a.ToJson().dump()));
  EXPECT_EQ(b.ToJson(), a.ToJson());
  JobSpec m = ParseOk(With("aggregation", {{"strategy", "median"}}));
  EXPECT_TRUE(m.aggregation.NeedsAllUpdates());
  JobSpec adaptive = ParseOk(With("aggregation", {{"adaptive_clip", 2}}));
  EXPECT_EQ(adaptive.aggregation.strategy, "fedavg");
  EXPECT_TRUE(adaptive.aggregation.NeedsAllUpdates());
}

TEST(JobSpec, AggregationErrorsNameTheNestedField) {
  ExpectOnlyError(With("aggregation", "median"), "aggregation", "must be an object");
  ExpectOnlyError(With("aggregation", {{"strategy", "krum"}}), "aggregation.strategy",
                  "fedavg, median, trimmed_mean");
  ExpectOnlyError(With("aggregation", {{"trim_ratio", 0.5}}), "aggregation.trim_ratio", "[0, 0.5)");
  ExpectOnlyError(With("aggregation", {{"trim_ratio", -0.1}}), "aggregation.trim_ratio");
  ExpectOnlyError(With("aggregation", {{"clip_norm", -1}}), "aggregation.clip_norm");
  ExpectOnlyError(With("aggregation", {{"clip_norm", "10"}}), "aggregation.clip_norm", "must be a number");
  ExpectOnlyError(With("aggregation", {{"adaptive_clip", 0.5}}), "aggregation.adaptive_clip", "at least 1");
  ExpectOnlyError(With("aggregation", {{"adaptive_clip", 2}, {"clip_norm", 3}}), "aggregation.adaptive_clip",
                  "cannot be combined");
  ExpectOnlyError(With("aggregation", {{"outlier_factor", 1}}), "aggregation.outlier_factor");
  ExpectOnlyError(With("aggregation", {{"stratgy", "median"}}), "aggregation.stratgy", "unknown field");
  // Several at once, all reported.
  auto p = ParseJobSpec(With("aggregation", {{"strategy", 3}, {"trim_ratio", 2}}));
  EXPECT_EQ(Fields(p), (std::vector<std::string>{"aggregation.strategy", "aggregation.trim_ratio"})) << Dump(p);
}

}  // namespace
}  // namespace fedpress
