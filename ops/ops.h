// Every differentiable op, in one include.
#pragma once
#include "ops/attention.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/normalization.h"
#include "ops/view.h"
