#include "compression/pipeline.h"

#include <cmath>
#include <cstring>
#include <string>

#include <zstd.h>

#include "common/byte_io.h"
#include "compression/container.h"
#include "common/checksum.h"
#include "compression/index_coding.h"
#include "compression/randomk.h"
#include "compression/rng.h"
#include "compression/topk.h"
#include "compression/value_coding.h"

namespace fedpress::compression {
namespace {

constexpr uint64_t kMaxLayerElements = (uint64_t{1} << 30) - 1;  // u32 byte lengths

std::string LayerCtx(const ModelLayout& layout, size_t i) {
  return "layer " + std::to_string(i) + " '" + layout.layers()[i].name + "'";
}

// acc += add; returns false on a non-finite result.
bool MergeFinite(std::span<float> acc, std::span<const float> add) {
  uint32_t bad = 0;
  for (size_t i = 0; i < acc.size(); ++i) {
    float v = acc[i] + add[i];
    acc[i] = v;
    bad |= MagKey(v) >= kNonFiniteKey ? 1u : 0u;
  }
  return bad == 0;
}

bool AllFinite(std::span<const float> x) {
  uint32_t bad = 0;
  for (float v : x) bad |= MagKey(v) >= kNonFiniteKey ? 1u : 0u;
  return bad == 0;
}

SparsifierId IdOf(SparsifyMethod m) {
  switch (m) {
    case SparsifyMethod::kNone: return SparsifierId::kNone;
    case SparsifyMethod::kTopK: return SparsifierId::kTopK;
    case SparsifyMethod::kRandomK: return SparsifierId::kRandomK;
  }
  return SparsifierId::kNone;
}

struct ZstdCDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

}  // namespace

// ---------------------------------------------------------------- Encoder

struct Encoder::Scratch {
  TopKScratch topk;
  ValueScratch values;
  std::vector<uint32_t> idx;
  std::vector<float> vals;
  std::vector<uint8_t> zbuf;
  std::unique_ptr<ZSTD_CCtx, ZstdCDeleter> cctx;
};

Encoder::Encoder(DirectionSpec spec, ModelLayout layout)
    : spec_(std::move(spec)), layout_(std::move(layout)), s_(std::make_unique<Scratch>()) {}
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;
Encoder::~Encoder() = default;

Result<Encoder> Encoder::Create(const DirectionSpec& spec, const ModelLayout& layout) {
  if (layout.num_layers() == 0) return Status::InvalidArgument("compression: empty model layout");
  if (layout.num_layers() > kMaxLayers)
    return Status::InvalidArgument("compression: more than " + std::to_string(kMaxLayers) + " layers");
  if (layout.total_elements() > kMaxModelElements)
    return Status::InvalidArgument("compression: model larger than " + std::to_string(kMaxModelElements) +
                                   " elements");
  for (size_t i = 0; i < layout.num_layers(); ++i)
    if (layout.layers()[i].numel() > kMaxLayerElements)
      return Status::InvalidArgument("compression: " + LayerCtx(layout, i) + " has more than 2^30-1 elements");
  Encoder e(spec, layout);
  e.layout_crc_ = LayoutCrc(layout);
  e.plan_ = ResolvePlan(spec, layout);
  if (spec.entropy.method == EntropyMethod::kZstd) {
    e.s_->cctx.reset(ZSTD_createCCtx());
    if (!e.s_->cctx) return Status::ResourceExhausted("compression: cannot create a zstd context");
  }
  return e;
}

Status Encoder::Encode(std::span<const float> delta, ErrorFeedback* residual, uint64_t seed,
                       std::vector<uint8_t>* out, EncodeStats* stats) {
  if (delta.size() != layout_.total_elements())
    return Status::InvalidArgument("compression: delta has " + std::to_string(delta.size()) +
                                   " elements, model has " + std::to_string(layout_.total_elements()));
  const bool ef = spec_.error_feedback;
  if (ef && residual == nullptr)
    return Status::InvalidArgument("compression: spec has error_feedback but no residual was given");
  if (!ef && residual != nullptr)
    return Status::InvalidArgument("compression: a residual was given but the spec has no error_feedback");
  if (ef && !(residual->layout() == layout_))
    return Status::InvalidArgument("compression: residual layout (" + residual->layout().Describe() +
                                   ") differs from the model (" + layout_.Describe() + ")");
  Scratch& s = *s_;
  out->clear();
  out->resize(kHeaderBytes);
  uint64_t sent = 0;
  auto fail = [&](size_t li) {
    if (ef) residual->Reset();
    out->clear();
    return Status::InvalidArgument("compression: non-finite value in " + LayerCtx(layout_, li) +
                                   (ef ? " (delta + residual); residual reset" : " of delta"));
  };
  for (size_t li = 0; li < layout_.num_layers(); ++li) {
    const LayerPlan& p = plan_[li];
    const size_t n = layout_.layers()[li].numel();
    const size_t off = layout_.offset(li);
    std::span<const float> d = delta.subspan(off, n);
    std::span<float> r = ef ? residual->values().subspan(off, n) : std::span<float>();
    const bool sparse = p.sparsify != SparsifyMethod::kNone;
    const uint64_t key = StreamKey(seed, li);
    {
      ByteWriter w(out);
      w.U8(static_cast<uint8_t>(sparse ? LayerKind::kSparse : LayerKind::kDense));
      w.U8(static_cast<uint8_t>(IdOf(p.sparsify)));
      w.U16(0);
      w.U64(n);
      w.U64(sparse ? p.k : n);
    }
    if (!sparse) {
      std::span<const float> src = d;
      if (ef) {
        if (!MergeFinite(r, d)) return fail(li);
        src = r;
      } else if (!AllFinite(d)) {
        return fail(li);
      }
      if (p.values.codec == ValueCodec::kFp32) {
        ByteWriter w(out);
        w.U8(static_cast<uint8_t>(ValueCodec::kFp32));
        w.U32(static_cast<uint32_t>(n * 4));
        w.Floats(src);
        if (ef) std::fill(r.begin(), r.end(), 0.0f);
      } else {
        s.vals.assign(src.begin(), src.end());
        EncodeValueSection(p.values, s.vals, key, &s.values, out);
        if (ef)
          for (size_t j = 0; j < n; ++j) r[j] = r[j] - s.vals[j];
      }
      sent += n;
      continue;
    }
    // Sparse: choose the indices.
    bool ok = true;
    if (p.sparsify == SparsifyMethod::kTopK) {
      if (p.algorithm == TopKAlgorithm::kSampled) {
        ok = ef ? TopKSampledFused(r, d, p.k, key, &s.topk, &s.idx)
                : TopKSampled(d, p.k, key, &s.topk, &s.idx);
      } else {
        ok = ef ? (MergeFinite(r, d) && TopKExact(r, p.k, &s.topk, &s.idx))
                : TopKExact(d, p.k, &s.topk, &s.idx);
      }
    } else {
      ok = ef ? MergeFinite(r, d) : AllFinite(d);
      RandomK(n, p.k, StreamKey(seed ^ 0x52414E444F4D4Bull, li), &s.idx);
    }
    if (!ok) return fail(li);
    std::span<const float> src = ef ? std::span<const float>(r) : d;
    const size_t k = s.idx.size();
    s.vals.resize(k);
    for (size_t j = 0; j < k; ++j) s.vals[j] = src[s.idx[j]];
    // Index section: u8 codec, u8 param, u32 length, bytes.
    const size_t ipos = out->size();
    out->resize(ipos + 6);
    IndexEncoding ie = EncodeIndices(s.idx, p.index, out);
    (*out)[ipos] = static_cast<uint8_t>(ie.codec);
    (*out)[ipos + 1] = ie.param;
    uint32_t ilen = static_cast<uint32_t>(out->size() - ipos - 6);
    std::memcpy(out->data() + ipos + 2, &ilen, 4);
    EncodeValueSection(p.values, s.vals, key, &s.values, out);
    if (ef)
      for (size_t j = 0; j < k; ++j) r[s.idx[j]] = r[s.idx[j]] - s.vals[j];
    sent += k;
  }
  ContainerHeader h;
  h.num_layers = static_cast<uint32_t>(layout_.num_layers());
  h.layout_crc = layout_crc_;
  h.total_elements = layout_.total_elements();
  h.body_raw_len = out->size() - kHeaderBytes;
  h.body_stored_len = h.body_raw_len;
  if (spec_.entropy.method == EntropyMethod::kZstd && h.body_raw_len > 0) {
    s.zbuf.resize(ZSTD_compressBound(h.body_raw_len));
    size_t c = ZSTD_compressCCtx(s.cctx.get(), s.zbuf.data(), s.zbuf.size(), out->data() + kHeaderBytes,
                                 h.body_raw_len, spec_.entropy.level);
    if (!ZSTD_isError(c) && c < h.body_raw_len) {
      out->resize(kHeaderBytes + c);
      std::memcpy(out->data() + kHeaderBytes, s.zbuf.data(), c);
      h.flags |= kFlagZstd;
      h.body_stored_len = c;
    }
  }
  WriteHeader(h, out->data());
  uint32_t crc = fedpress::Crc32c(out->data(), out->size());
  ByteWriter(out).U32(crc);
  if (stats) {
    stats->dense_bytes = layout_.total_elements() * 4;
    stats->payload_bytes = out->size();
    stats->body_raw_bytes = h.body_raw_len;
    stats->sent_values = sent;
    stats->zstd_used = (h.flags & kFlagZstd) != 0;
  }
  return Status::OK();
}

// ---------------------------------------------------------------- Decoder

struct DecodeContext::Impl {
  std::unique_ptr<ZSTD_DCtx, ZstdDDeleter> dctx;
  std::vector<uint8_t> body;

  Status Run(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
             std::span<float> acc, const DecodeLimits& limits, double* sum_squares = nullptr);
  template <bool kApply>
  Status ParseBody(std::span<const uint8_t> body, const ModelLayout& layout, float weight,
                   std::span<float> acc, double* sum_squares = nullptr);
};

template <bool kApply>
Status DecodeContext::Impl::ParseBody(std::span<const uint8_t> body, const ModelLayout& layout,
                                      float weight, std::span<float> acc, double* sum_squares) {
  double ss = 0.0;
  ByteReader r(body);
  uint32_t ib[kValueChunk];
  float vb[kValueChunk];
  for (size_t li = 0; li < layout.num_layers(); ++li) {
    auto bad = [&](const std::string& m) {
      return Status::Corruption("compressed payload: " + LayerCtx(layout, li) + ": " + m);
    };
    const uint64_t numel = layout.layers()[li].numel();
    uint8_t kind = r.U8("layer kind");
    uint8_t sparsifier = r.U8("sparsifier");
    uint16_t reserved = r.U16("reserved");
    uint64_t n = r.U64("numel");
    uint64_t count = r.U64("count");
    if (!r.ok()) return bad(r.error());
    if (kind > static_cast<uint8_t>(LayerKind::kSparse)) return bad("unknown layer kind " + std::to_string(kind));
    if (sparsifier > static_cast<uint8_t>(SparsifierId::kRandomK))
      return bad("unknown sparsifier id " + std::to_string(sparsifier));
    if (reserved != 0) return bad("reserved field is not zero");
    if (n != numel)
      return bad("declares " + std::to_string(n) + " elements, model layer has " + std::to_string(numel));
    const bool sparse = kind == static_cast<uint8_t>(LayerKind::kSparse);
    if (!sparse && count != numel)
      return bad("dense layer with count " + std::to_string(count) + " != " + std::to_string(numel));
    if (sparse && count > numel)
      return bad("count " + std::to_string(count) + " exceeds " + std::to_string(numel) + " elements");
    IndexReader ir;
    if (sparse) {
      uint8_t codec = r.U8("index codec");
      uint8_t param = r.U8("index param");
      uint32_t len = r.U32("index bytes");
      auto bytes = r.Bytes(len, "index section");
      if (!r.ok()) return bad(r.error());
      if (codec == 0 || codec > kMaxIndexCodec) return bad("unknown index codec " + std::to_string(codec));
      Status st = ir.Init(static_cast<IndexCodec>(codec), param, bytes, count, numel);
      if (!st.ok()) return bad(st.message());
    }
    ValueReader vr;
    if (Status st = vr.Init(r, count); !st.ok()) return bad(st.message());
    float* a = acc.data() + layout.offset(li);
    for (uint64_t done = 0; done < count;) {
      const size_t m = static_cast<size_t>(std::min<uint64_t>(kValueChunk, count - done));
      if (sparse) {
        if (Status st = ir.Read({ib, m}); !st.ok()) return bad(st.message());
      }
      if (Status st = vr.Read({vb, m}); !st.ok()) return bad(st.message());
      if constexpr (kApply) {
        if (sparse) {
          for (size_t j = 0; j < m; ++j) a[ib[j]] += weight * vb[j];
        } else {
          float* ad = a + done;
          for (size_t j = 0; j < m; ++j) ad[j] += weight * vb[j];
        }
      } else if (sum_squares) {
        for (size_t j = 0; j < m; ++j) ss += static_cast<double>(vb[j]) * static_cast<double>(vb[j]);
      }
      done += m;
    }
    if (sparse) {
      if (Status st = ir.Finish(); !st.ok()) return bad(st.message());
    }
  }
  if (r.remaining() != 0)
    return Status::Corruption("compressed payload: " + std::to_string(r.remaining()) +
                              " unexpected bytes after the last layer");
  if (!kApply && sum_squares) *sum_squares = ss;
  return Status::OK();
}

Status DecodeContext::Impl::Run(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
                                std::span<float> acc, const DecodeLimits& limits, double* sum_squares) {
  if (acc.size() != layout.total_elements())
    return Status::InvalidArgument("decode: accumulator has " + std::to_string(acc.size()) +
                                   " elements, layout has " + std::to_string(layout.total_elements()));
  if (!std::isfinite(weight)) return Status::InvalidArgument("decode: weight is not finite");
  const uint64_t max_payload = limits.max_payload_bytes ? limits.max_payload_bytes : MaxPayloadBytes(layout);
  if (payload.size() > max_payload)
    return Status::ResourceExhausted("compressed payload: " + std::to_string(payload.size()) +
                                     " bytes exceeds the limit of " + std::to_string(max_payload));
  FP_ASSIGN_OR_RETURN(ContainerHeader h, ParseHeader(payload));
  uint32_t stored_crc;
  std::memcpy(&stored_crc, payload.data() + payload.size() - kTrailerBytes, 4);
  if (fedpress::Crc32c(payload.data(), payload.size() - kTrailerBytes) != stored_crc)
    return Status::Corruption("compressed payload: checksum mismatch");
  if (h.num_layers != layout.num_layers() || h.total_elements != layout.total_elements() ||
      h.layout_crc != LayoutCrc(layout))
    return Status::FailedPrecondition(
        "compressed payload is for a different model (" + std::to_string(h.num_layers) + " layers, " +
        std::to_string(h.total_elements) + " elements); expected " + layout.Describe());
  const uint64_t max_body = MaxBodyBytes(layout);
  if (h.body_raw_len > max_body)
    return Status::Corruption("compressed payload: body_raw_len " + std::to_string(h.body_raw_len) +
                              " exceeds the bound " + std::to_string(max_body) + " for this model");
  std::span<const uint8_t> stored = payload.subspan(kHeaderBytes, h.body_stored_len);
  std::span<const uint8_t> body = stored;
  if (h.flags & kFlagZstd) {
    unsigned long long fsize = ZSTD_getFrameContentSize(stored.data(), stored.size());
    if (fsize == ZSTD_CONTENTSIZE_ERROR || fsize == ZSTD_CONTENTSIZE_UNKNOWN || fsize != h.body_raw_len)
      return Status::Corruption("compressed payload: zstd frame size does not match body_raw_len");
    size_t fcsize = ZSTD_findFrameCompressedSize(stored.data(), stored.size());
    if (ZSTD_isError(fcsize) || fcsize != stored.size())
      return Status::Corruption("compressed payload: body is not exactly one zstd frame");
    if (!dctx) {
      dctx.reset(ZSTD_createDCtx());
      if (!dctx) return Status::ResourceExhausted("decode: cannot create a zstd context");
    }
    this->body.resize(h.body_raw_len);
    size_t got = ZSTD_decompressDCtx(dctx.get(), this->body.data(), this->body.size(), stored.data(), stored.size());
    if (ZSTD_isError(got) || got != h.body_raw_len)
      return Status::Corruption(std::string("compressed payload: zstd: ") +
                                (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame"));
    body = std::span<const uint8_t>(this->body.data(), h.body_raw_len);
  }
  FP_RETURN_IF_ERROR(ParseBody<false>(body, layout, weight, acc, sum_squares));
  Status st = ParseBody<true>(body, layout, weight, acc);
  if (!st.ok()) return Status::Internal("decode: second pass failed after validation: " + st.message());
  return Status::OK();
}

DecodeContext::DecodeContext() : impl_(std::make_unique<Impl>()) {}
DecodeContext::DecodeContext(DecodeContext&&) noexcept = default;
DecodeContext& DecodeContext::operator=(DecodeContext&&) noexcept = default;
DecodeContext::~DecodeContext() = default;

Status DecodeContext::DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout,
                                       float weight, std::span<float> acc, const DecodeLimits& limits) {
  return impl_->Run(payload, layout, weight, acc, limits);
}

Status DecodeContext::DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout,
                                       float weight, std::span<float> acc, const DecodeLimits& limits,
                                       double* sum_squares) {
  return impl_->Run(payload, layout, weight, acc, limits, sum_squares);
}

Result<std::vector<float>> DecodeContext::Decode(std::span<const uint8_t> payload, const ModelLayout& layout,
                                                 const DecodeLimits& limits) {
  std::vector<float> out(layout.total_elements(), 0.0f);
  FP_RETURN_IF_ERROR(impl_->Run(payload, layout, 1.0f, out, limits));
  return out;
}

size_t DecodeContext::scratch_bytes() const { return impl_->body.capacity(); }

Result<PayloadInfo> InspectPayload(std::span<const uint8_t> payload) {
  FP_ASSIGN_OR_RETURN(ContainerHeader h, ParseHeader(payload));
  PayloadInfo i;
  i.version = h.version;
  i.zstd = (h.flags & kFlagZstd) != 0;
  i.num_layers = h.num_layers;
  i.total_elements = h.total_elements;
  i.body_raw_len = h.body_raw_len;
  i.payload_bytes = payload.size();
  return i;
}

Status DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
                        std::span<float> acc, const DecodeLimits& limits) {
  DecodeContext ctx;
  return ctx.DecodeAccumulate(payload, layout, weight, acc, limits);
}

Result<std::vector<float>> Decode(std::span<const uint8_t> payload, const ModelLayout& layout,
                                  const DecodeLimits& limits) {
  DecodeContext ctx;
  return ctx.Decode(payload, layout, limits);
}

Result<ModelWeights> DecodeWeights(std::span<const uint8_t> payload, const ModelLayout& layout,
                                   const DecodeLimits& limits) {
  FP_ASSIGN_OR_RETURN(std::vector<float> v, Decode(payload, layout, limits));
  return ModelWeights(layout, std::move(v));
}

}  // namespace fedpress::compression
