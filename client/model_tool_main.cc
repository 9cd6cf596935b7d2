// fedpress-model: create, evaluate, export and describe fedpress models.
//
//   fedpress-model init --model cnn --seed 1 --job 7 --out ckpt/round-0.fpck
//   fedpress-model evaluate --checkpoint ckpt/round-3.fpck --test-data DIR
//       -> {"accuracy":0.8123,"loss":0.51,"samples":10000,"round":3}
//   fedpress-model export --checkpoint ckpt/round-3.fpck --out model.pt
//   fedpress-model layout --model cnn
//   fedpress-model serve --test-data DIR [--limit N]
//       stdin:  {"checkpoint":"ckpt/round-3.fpck","export":"model.pt.tmp"}  (one per line)
//       stdout: {"accuracy":0.8123,"loss":0.51,"samples":10000,"round":3}   or {"error":"..."}
//
// Exit codes: 0 success, 1 runtime error, 2 usage error. Errors go to stderr
// as one line. The server keeps one `serve` child and sends it every round's
// checkpoint (loading libtorch costs ~0.5 s; scoring 1,000 images ~0.1 s).
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/idx_dataset.h"
#include "client/model_zoo.h"
#include "client/trainer.h"
#include "common/checkpoint.h"

namespace fedpress {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

int Fail(const Status& st) {
  std::cerr << "fedpress-model: " << st.ToString() << "\n";
  return kExitRuntime;
}

struct Options {
  std::string model;
  uint64_t seed = 1;
  int64_t job = 0;
  std::string out;
  std::string checkpoint;
  std::string test_data = "/usr/share/datasets/fashion-mnist";
  size_t limit = 0;
  int threads = 1;
  std::string export_path;
};

int RunInit(const Options& o) {
  Result<ModelWeights> w = InitialWeights(o.model, o.seed);
  if (!w.ok()) return Fail(w.status());
  Checkpoint c;
  c.job_id = o.job;
  c.round = 0;
  c.model_name = o.model;
  c.weights = std::move(w).value();
  Status st = WriteCheckpoint(o.out, c);
  if (!st.ok()) return Fail(st);
  return kExitOk;
}

int RunEvaluate(const Options& o) {
  Result<Checkpoint> c = ReadCheckpoint(o.checkpoint);
  if (!c.ok()) return Fail(c.status());
  if (!o.export_path.empty()) {
    Status st = ExportStateDict(c->weights, o.export_path);
    if (!st.ok()) return Fail(st);
  }
  Result<Dataset> data = LoadFashionMnist(o.test_data, "test", o.limit);
  if (!data.ok()) return Fail(data.status());
  auto trainer = Trainer::Create(c->model_name, o.threads);
  if (!trainer.ok()) return Fail(trainer.status().WithContext(o.checkpoint));
  Result<EvalResult> r = (*trainer)->Evaluate(c->weights, *data);
  if (!r.ok()) return Fail(r.status().WithContext(o.checkpoint));
  nlohmann::ordered_json j;
  j["accuracy"] = r->accuracy;
  j["loss"] = r->loss;
  j["samples"] = r->samples;
  j["round"] = c->round;
  std::cout << j.dump() << std::endl;
  return kExitOk;
}

// One evaluation request of `serve`: errors become {"error": "..."}.
nlohmann::ordered_json ServeOne(const std::string& line, const Dataset& data, int threads,
                                std::map<std::string, std::unique_ptr<Trainer>>* trainers) {
  nlohmann::ordered_json out;
  auto req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object() || !req.contains("checkpoint") || !req["checkpoint"].is_string()) {
    out["error"] = "request must be a JSON object with a string \"checkpoint\"";
    return out;
  }
  const std::string checkpoint = req["checkpoint"].get<std::string>();
  Result<Checkpoint> c = ReadCheckpoint(checkpoint);
  if (!c.ok()) {
    out["error"] = c.status().ToString();
    return out;
  }
  if (req.contains("export") && req["export"].is_string() && !req["export"].get<std::string>().empty()) {
    Status st = ExportStateDict(c->weights, req["export"].get<std::string>());
    if (!st.ok()) {
      out["error"] = st.ToString();
      return out;
    }
  }
  auto& trainer = (*trainers)[c->model_name];
  if (!trainer) {
    auto t = Trainer::Create(c->model_name, threads);
    if (!t.ok()) {
      out["error"] = t.status().WithContext(checkpoint).ToString();
      return out;
    }
    trainer = std::move(*t);
  }
  Result<EvalResult> r = trainer->Evaluate(c->weights, data);
  if (!r.ok()) {
    out["error"] = r.status().WithContext(checkpoint).ToString();
    return out;
  }
  out["accuracy"] = r->accuracy;
  out["loss"] = r->loss;
  out["samples"] = r->samples;
  out["round"] = c->round;
  return out;
}

int RunServe(const Options& o) {
  Result<Dataset> data = LoadFashionMnist(o.test_data, "test", o.limit);
  if (!data.ok()) return Fail(data.status());
  std::map<std::string, std::unique_ptr<Trainer>> trainers;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    nlohmann::ordered_json out;
    try {
      out = ServeOne(line, *data, o.threads, &trainers);
    } catch (const std::exception& e) {
      out = nlohmann::ordered_json{{"error", std::string("internal error: ") + e.what()}};
    }
    std::cout << out.dump() << std::endl;
  }
  return kExitOk;
}

int RunExport(const Options& o) {
  Result<Checkpoint> c = ReadCheckpoint(o.checkpoint);
  if (!c.ok()) return Fail(c.status());
  Status st = ExportStateDict(c->weights, o.out);
  if (!st.ok()) return Fail(st);
  return kExitOk;
}

int RunLayout(const Options& o) {
  Result<ModelLayout> layout = LayoutOf(o.model);
  if (!layout.ok()) return Fail(layout.status());
  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["parameters"] = layout->total_elements();
  j["layers"] = nlohmann::ordered_json::array();
  for (const LayerSpec& l : layout->layers()) {
    nlohmann::ordered_json e;
    e["name"] = l.name;
    e["shape"] = l.shape;
    j["layers"].push_back(std::move(e));
  }
  std::cout << j.dump() << std::endl;
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "fedpress-model: create, evaluate, export and describe fedpress models.\n"
      "Exit codes: 0 success, 1 runtime error, 2 usage error.",
      "fedpress-model"};
  app.require_subcommand(1, 1);
  Options o;
  const auto models = KnownModels();
  std::string model_list;
  for (const auto& m : models) model_list += (model_list.empty() ? "" : ", ") + m;

  auto* init = app.add_subcommand(
      "init", "Write a job's initial checkpoint (round 0) with freshly initialised weights.");
  init->add_option("--model", o.model, "Model: " + model_list)
      ->required()
      ->check(CLI::IsMember(models));
  init->add_option("--seed", o.seed, "Seed for torch's default initialisation")
      ->capture_default_str();
  init->add_option("--job", o.job, "Job id stored in the checkpoint")->required();
  init->add_option("--out", o.out, "Checkpoint file to write (atomically)")->required();

  auto* eval = app.add_subcommand(
      "evaluate",
      "Evaluate a checkpoint on the test split; prints one JSON line:\n"
      "{\"accuracy\":A,\"loss\":L,\"samples\":N,\"round\":R}");
  eval->add_option("--checkpoint", o.checkpoint, "Checkpoint file")->required();
  eval->add_option("--test-data", o.test_data,
                   "Directory with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
      ->capture_default_str();
  eval->add_option("--limit", o.limit, "Use only the first N test items (0 = all)")
      ->capture_default_str();
  eval->add_option("--threads", o.threads, "libtorch threads (0 = one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  eval->add_option("--export", o.export_path,
                   "Also write the weights as a PyTorch state_dict file (torch.load)");

  auto* exp = app.add_subcommand(
      "export", "Write a checkpoint's weights as a PyTorch state_dict file (torch.load).");
  exp->add_option("--checkpoint", o.checkpoint, "Checkpoint file")->required();
  exp->add_option("--out", o.out, "State-dict file to write, e.g. model.pt")->required();

  auto* serve = app.add_subcommand(
      "serve",
      "Evaluate many checkpoints in one process: reads one JSON request per line on stdin,\n"
      "{\"checkpoint\":PATH[,\"export\":PATH]}, and prints one JSON line per request\n"
      "(as evaluate, or {\"error\":MESSAGE}); exits at end of input.");
  serve->add_option("--test-data", o.test_data,
                    "Directory with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
      ->capture_default_str();
  serve->add_option("--limit", o.limit, "Use only the first N test items (0 = all)")->capture_default_str();
  serve->add_option("--threads", o.threads, "libtorch threads (0 = one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();

  auto* layout = app.add_subcommand(
      "layout", "Print a model's parameter names and shapes as one JSON line.");
  layout->add_option("--model", o.model, "Model: " + model_list)
      ->required()
      ->check(CLI::IsMember(models));

  const std::string first = argc >= 2 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && first != "init" && first != "evaluate" &&
      first != "export" && first != "layout" && first != "serve") {
    std::cerr << "fedpress-model: unknown subcommand '" << argv[1]
              << "': use init, evaluate, export, layout or serve (see 'fedpress-model --help')\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n') ch = ' ';
    std::cerr << "fedpress-model: " << msg << " (see 'fedpress-model --help')\n";
    return kExitUsage;
  }

  try {
    if (init->parsed()) return RunInit(o);
    if (eval->parsed()) return RunEvaluate(o);
    if (exp->parsed()) return RunExport(o);
    if (layout->parsed()) return RunLayout(o);
    if (serve->parsed()) return RunServe(o);
  } catch (const std::exception& e) {
    std::cerr << "fedpress-model: internal error: " << e.what() << "\n";
    return kExitRuntime;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace fedpress

int main(int argc, char** argv) { return fedpress::Main(argc, argv); }
