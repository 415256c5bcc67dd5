// How pretrain and finetune show their progress and results: a progress bar
// on stderr with the loss, evaluation lines above it, and the summary on
// stdout. Only the lead rank of an MPI job reports.
#pragma once
#include <memory>
#include <string>

#include "cli/progress.h"
#include "models/training/finetune.h"
#include "models/training/pretrain.h"

namespace dnabert::cli {

// Callbacks that draw into `bar` (created at the first step; it must outlive them).
models::PretrainCallbacks pretrain_progress(std::unique_ptr<ProgressBar>& bar);
models::FinetuneCallbacks finetune_progress(std::unique_ptr<ProgressBar>& bar, const models::FinetuneOptions& o);

void print_pretrain_result(const models::PretrainResult& r, const std::string& out);
void print_finetune_result(const models::FinetuneResult& r, const models::FinetuneOptions& o);

}  // namespace dnabert::cli
