#include "models/training/gue_protocol.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

#include "base/error.h"

namespace dnabert::models {

namespace {

constexpr double kGueLr = 3e-5;
constexpr int kGueBatch = 32;
constexpr int64_t kGueWarmupSteps = 50;
constexpr int64_t kGueEvalSteps = 200;

const std::map<std::string, int>& epochs_by_family() {
  static const std::map<std::string, int> epochs = {
      {"prom_core_all", 4}, {"prom_core_notata", 4}, {"prom_core_tata", 10}, {"prom_300_all", 4},
      {"prom_300_notata", 4}, {"prom_300_tata", 10}, {"tf", 3}, {"mouse", 5}, {"EMP", 3}, {"splice", 5},
      {"covid", 9}};
  return epochs;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string family_of_name(const std::string& c) {
  if (starts_with(c, "prom_")) return epochs_by_family().count(c) ? c : "";
  if (c == "tf" || starts_with(c, "tf_")) return "tf";
  if (c == "mouse" || starts_with(c, "mouse_")) return "mouse";
  if (c == "EMP" || starts_with(c, "H3") || starts_with(c, "H4")) return "EMP";
  if (starts_with(c, "splice")) return "splice";
  if (c == "covid" || c == "virus") return "covid";
  return "";
}

// The first file of a data spec ("train.csv", or "pos.fa:1,neg.fa:0" for labelled FASTA).
std::string first_file(const std::string& spec) {
  std::string f = spec.substr(0, spec.find(','));
  const size_t colon = f.rfind(':');
  if (colon != std::string::npos && f.find('/', colon) == std::string::npos) f.resize(colon);
  return f;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string gue_task_family(const std::string& name_or_path) {
  std::vector<std::string> parts;
  for (const auto& part : std::filesystem::path(name_or_path)) parts.push_back(part.string());
  for (auto it = parts.rbegin(); it != parts.rend(); ++it)
    if (std::string family = family_of_name(*it); !family.empty()) return family;
  return "";
}

int gue_epochs(const std::string& family) {
  auto it = epochs_by_family().find(family);
  return it == epochs_by_family().end() ? 0 : it->second;
}

std::string apply_protocol(FinetuneOptions& o, const std::string& protocol, const std::string& gue_task,
                           const std::set<std::string>& given) {
  if (protocol.empty()) {
    if (!gue_task.empty()) throw UsageError("--gue-task needs --protocol gue");
    return "";
  }
  if (protocol != "gue") throw UsageError("unknown --protocol '" + protocol + "' (the one protocol is gue)");
  const std::string source = gue_task.empty() ? first_file(o.train) : gue_task;
  const std::string family = gue_task_family(source);
  if (!gue_task.empty() && family.empty())
    throw UsageError("--gue-task " + gue_task +
                     ": not a GUE task (give one of prom_core_all, prom_core_notata, prom_core_tata, prom_300_all, "
                     "prom_300_notata, prom_300_tata, tf_human_N, mouse_N, H3…/H4… (EMP), splice, covid)");
  if (family.empty() && !given.count("epochs"))
    throw UsageError("--protocol gue: " + source +
                     ": no folder in this path names a GUE task (prom_core_all, prom_core_notata, prom_core_tata, "
                     "prom_300_all, prom_300_notata, prom_300_tata, tf_*, mouse_*, EMP/H3*, splice*, covid), so the "
                     "number of epochs is unknown: give --gue-task NAME or --epochs N");
  auto set = [&](const char* flag) { return !given.count(flag); };  // the protocol sets this flag's value
  std::string changed, kept;  // the settings the protocol made, and those given on the command line
  auto note = [&](bool applied, const std::string& text) {
    std::string& list = applied ? changed : kept;
    list += (list.empty() ? "" : ", ") + text;
  };
  if (set("lr")) o.lr = kGueLr;
  note(set("lr"), "lr " + number(o.lr));
  if (set("batch")) o.batch = kGueBatch;
  note(set("batch"), "batch " + std::to_string(o.batch));
  const bool warmup = set("warmup-steps") && set("warmup-ratio");
  if (warmup) o.warmup_steps = kGueWarmupSteps;
  note(warmup, o.warmup_steps >= 0 ? "warm-up " + std::to_string(o.warmup_steps) + " steps"
                                   : "warm-up ratio " + number(o.warmup_ratio));
  if (set("eval-steps")) o.eval_steps = kGueEvalSteps;
  note(set("eval-steps"), o.eval_steps > 0 ? "dev every " + std::to_string(o.eval_steps) + " steps" : "dev every epoch");
  if (set("metric")) o.metric = "mcc";
  note(set("metric"), "metric " + o.metric);
  if (set("epochs")) o.epochs = gue_epochs(family);
  note(set("epochs"), std::to_string(o.epochs) + " epochs");
  return "protocol gue" + (family.empty() ? std::string() : " (task family " + family + " from " + source + ")") +
         ": " + changed + (kept.empty() ? "" : "; given on the command line: " + kept);
}

}  // namespace dnabert::models
