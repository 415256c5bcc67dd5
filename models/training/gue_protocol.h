// The fine-tuning protocol of the GUE benchmark (`finetune --protocol gue`),
// so that our scores compare with the published ones: learning rate 3e-5,
// batch 32, linear warm-up over 50 steps, dev scored every 200 steps with the
// checkpoint best by MCC kept, and the epochs the DNABERT-2 repository's
// finetune/scripts/run_dnabert1.sh gives each task family (it fine-tunes the
// DNABERT-1 k-mer models on GUE):
//
//   prom_core_all, prom_core_notata, prom_300_all, prom_300_notata   4
//   prom_core_tata, prom_300_tata                                   10
//   tf (human)   3      mouse   5      EMP   3      splice   5      covid   9
//
// That script warms up for 30 steps on tf and mouse, evaluates every 400 steps
// on the four large promoter sets, and caps mouse at 1000 steps; our protocol
// fixes warm-up 50 and evaluation every 200 for every family, and has no cap.
#pragma once
#include <set>
#include <string>

#include "models/training/finetune.h"

namespace dnabert::models {

// The GUE task family of a task name or of a path holding one as a folder
// name, the innermost folder first: "prom_core_all", "prom_core_notata",
// "prom_core_tata", "prom_300_all", "prom_300_notata", "prom_300_tata" (each
// its own family), "tf" (tf, tf_*: tf_human_0, …), "mouse" (mouse, mouse_*),
// "EMP" (EMP, H3*, H4*), "splice" (splice*), "covid" (covid, virus).
// "" when no component names one.
std::string gue_task_family(const std::string& name_or_path);

// Epochs of a family from gue_task_family; 0 for "" or an unknown name.
int gue_epochs(const std::string& family);

// Sets o's lr, batch, warm-up, eval_steps, metric and epochs to the protocol's
// (`protocol` must be "gue"; "" changes nothing). `given` names the flags set
// on the command line, which keep their values: "lr", "batch", "epochs",
// "warmup-steps", "warmup-ratio" (a given ratio replaces the protocol's 50
// warm-up steps unless warmup-steps is given too), "eval-steps", "metric".
// The epochs come from `gue_task` if not empty, else from o.train's path.
// Returns a one-line summary of the settings. Throws UsageError for an
// unknown protocol, an unknown --gue-task, or a task family that cannot be
// told when the epochs are not given.
std::string apply_protocol(FinetuneOptions& o, const std::string& protocol, const std::string& gue_task,
                           const std::set<std::string>& given);

}  // namespace dnabert::models
