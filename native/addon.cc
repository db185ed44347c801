// N-API bindings: device open/configuration functions and the TunQueue object that moves
// packets between one TUN/TAP queue fd and JavaScript.
//
// Receive path (see /work/shared/tun-io-facts.md for the measurements behind it): a uv_poll
// watches the O_NONBLOCK fd; on readiness we read() until EAGAIN, at most `slotCount` packets,
// each into its fixed slot of one ArrayBuffer the JavaScript side allocated, writing the
// lengths into a shared Uint32Array, then call JavaScript ONCE with the count. Nothing is
// allocated per packet, and one JS call per batch roughly doubles the packet rate over one per
// packet. No thread ever blocks in read(), so the process never hangs at exit.
//
// Transmit path: JavaScript copies frames into a transmit ArrayBuffer and fills a table of
// (offset, length) pairs; writeBatch(count) loops write(), one packet per call (a TUN write is
// exactly one packet), counting a failed packet as a drop instead of blocking or throwing.
//
// Or, after startTxThread(regions, entries, status), a writer thread does the writes: the
// buffer and the table are split into `regions`; JavaScript fills one region, submit()s it and
// moves on to the next (acquire() waits only if the thread is still writing that one). Each
// write() into a TUN runs the kernel's receive path (IP, TCP, waking the reader) in the
// writer's time, so on a second core it overlaps with the stack's JavaScript instead of
// stalling it. Batches are written in submission order; counters go to `status` (Uint32Array:
// written, dropped, errors, last errno), which JavaScript reads without a call.
#include <napi.h>
#include <uv.h>
#include <unistd.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netns.h"
#include "rtnl.h"
#include "sys_error.h"
#include "tun.h"

namespace netstack {

namespace {

Napi::Error ToJsError(Napi::Env env, const SysError& e) {
  Napi::Error error = Napi::Error::New(env, e.message);
  error.Set("code", Napi::String::New(env, ErrnoName(e.err)));
  error.Set("errno", Napi::Number::New(env, e.err));
  error.Set("syscall", Napi::String::New(env, e.syscall));
  return error;
}

// Runs `fn`, turning a SysError into a thrown JS error.
template <class F>
auto Guard(Napi::Env env, F fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SysError& e) {
    throw ToJsError(env, e);
  }
}

std::string OptString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return "";
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool OptBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull() && v.ToBoolean().Value();
}

int64_t OptInt(const Napi::Object& o, const char* key, int64_t dflt, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    Napi::RangeError err = Napi::RangeError::New(
        o.Env(), std::string(key) + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    err.Set("code", Napi::String::New(o.Env(), "EINVAL"));
    throw err;
  }
  return static_cast<int64_t>(d);
}

std::string ArgNetns(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return "";
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), "netns must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

}  // namespace

// One queue fd of a TUN/TAP device. Owns the fd and, once reading starts, a uv_poll handle.
class TunQueue : public Napi::ObjectWrap<TunQueue> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TunQueue",
                       {
                           InstanceAccessor<&TunQueue::GetFd>("fd"),
                           InstanceMethod<&TunQueue::StartReading>("startReading"),
                           InstanceMethod<&TunQueue::Pause>("pause"),
                           InstanceMethod<&TunQueue::Resume>("resume"),
                           InstanceMethod<&TunQueue::SetupTx>("setupTx"),
                           InstanceMethod<&TunQueue::WriteBatch>("writeBatch"),
                           InstanceMethod<&TunQueue::StartTxThread>("startTxThread"),
                           InstanceMethod<&TunQueue::Submit>("submit"),
                           InstanceMethod<&TunQueue::Acquire>("acquire"),
                           InstanceMethod<&TunQueue::Drain>("drain"),
                           InstanceMethod<&TunQueue::Write>("write"),
                           InstanceMethod<&TunQueue::TxCounters>("txCounters"),
                           InstanceMethod<&TunQueue::SetOffloadJs>("setOffload"),
                           InstanceMethod<&TunQueue::SetPersistJs>("setPersist"),
                           InstanceMethod<&TunQueue::SetQueueEnabledJs>("setQueueEnabled"),
                           InstanceMethod<&TunQueue::Close>("close"),
                       });
  }

  // new TunQueue(fd, name): takes ownership of fd. Only OpenJs constructs these.
  explicit TunQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunQueue>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
      throw Napi::TypeError::New(env, "TunQueue is created by open(), not directly");
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    name_ = info[1].As<Napi::String>().Utf8Value();
    env_ = env;
    // At environment teardown (process exit, worker exit) close the fd and reset offloads even
    // if JavaScript never called close(): offload settings outlive the process otherwise.
    napi_add_env_cleanup_hook(env, &TunQueue::CleanupHook, this);
    hookRegistered_ = true;
  }

  ~TunQueue() override {
    if (hookRegistered_) napi_remove_env_cleanup_hook(env_, &TunQueue::CleanupHook, this);
    hookRegistered_ = false;
    Shutdown();
  }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<TunQueue*>(arg);
    self->hookRegistered_ = false;
    self->selfRefHeld_ = false;  // references are gone with the environment
    self->Shutdown();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  // startReading(rxBuffer: ArrayBuffer, slotSize, slotCount, lengths: Uint32Array,
  //              onBatch(count), onError(err))
  Napi::Value StartReading(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (poll_ != nullptr) throw Napi::Error::New(env, "reading already started on this queue");
    if (info.Length() < 6 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[3].IsTypedArray() || !info[4].IsFunction() || !info[5].IsFunction()) {
      throw Napi::TypeError::New(env, "startReading(rxBuffer, slotSize, slotCount, lengths, onBatch, onError)");
    }
    Napi::ArrayBuffer rx = info[0].As<Napi::ArrayBuffer>();
    const int64_t slotSize = info[1].As<Napi::Number>().Int64Value();
    const int64_t slotCount = info[2].As<Napi::Number>().Int64Value();
    Napi::TypedArray lengthsTa = info[3].As<Napi::TypedArray>();
    if (lengthsTa.TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "lengths must be a Uint32Array");
    Napi::Uint32Array lengths = lengthsTa.As<Napi::Uint32Array>();
    if (slotSize < 64 || slotCount < 1 || slotCount > 4096 ||
        static_cast<uint64_t>(slotSize) * static_cast<uint64_t>(slotCount) > rx.ByteLength() ||
        lengths.ElementLength() < static_cast<size_t>(slotCount)) {
      throw Napi::RangeError::New(env, "rxBuffer must hold slotCount slots of slotSize bytes, lengths slotCount entries");
    }
    // The references keep both buffers alive (and their data pointers valid: ArrayBuffer
    // backing stores do not move) for as long as this queue may write into them.
    rxRef_ = Napi::Persistent(rx);
    lengthsRef_ = Napi::Persistent(static_cast<Napi::Object>(lengths));
    rxData_ = static_cast<uint8_t*>(rx.Data());
    lengths_ = lengths.Data();
    slotSize_ = static_cast<size_t>(slotSize);
    slotCount_ = static_cast<uint32_t>(slotCount);
    // The callbacks close over the JavaScript link, which holds this queue: a strong reference
    // from here would make a cycle the GC cannot see through, leaking a paused, dropped link.
    // So the wrapper object holds them (a plain JS cycle, collectable) and we keep weak
    // references; while polling, the wrapper itself is pinned (see StartPoll).
    Napi::Object self = Value();
    self.DefineProperty(Napi::PropertyDescriptor::Value("_onBatch", info[4], napi_default));
    self.DefineProperty(Napi::PropertyDescriptor::Value("_onError", info[5], napi_default));
    onBatch_ = Napi::Weak(info[4].As<Napi::Function>());
    onError_ = Napi::Weak(info[5].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "netstack.TunQueue");

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    poll_ = new uv_poll_t;
    const int rc = uv_poll_init(loop, poll_, fd_);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      throw Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    poll_->data = this;
    StartPoll(env);
    return env.Undefined();
  }

  // Stops and restarts polling, e.g. for back-pressure. A paused queue does not keep the
  // event loop alive.
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    StopPoll();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (poll_ == nullptr) throw Napi::Error::New(env, "resume() before startReading()");
    StartPoll(env);
    return env.Undefined();
  }

  // setupTx(txBuffer: ArrayBuffer, table: Uint32Array of (offset, length) pairs)
  Napi::Value SetupTx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsArrayBuffer() || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "setupTx(txBuffer: ArrayBuffer, table: Uint32Array)");
    }
    if (txThread_.joinable()) throw Napi::Error::New(env, "setupTx() while the writer thread runs");
    Napi::ArrayBuffer tx = info[0].As<Napi::ArrayBuffer>();
    Napi::Uint32Array table = info[1].As<Napi::Uint32Array>();
    txRef_ = Napi::Persistent(tx);
    txTableRef_ = Napi::Persistent(static_cast<Napi::Object>(table));
    txData_ = static_cast<uint8_t*>(tx.Data());
    txLen_ = tx.ByteLength();
    txTable_ = table.Data();
    txEntries_ = static_cast<uint32_t>(table.ElementLength() / 2);
    return env.Undefined();
  }

  // writeBatch(count): writes entries 0..count-1 of the table, one write() each. Returns how
  // many were written; the others are counted (see txCounters) and skipped, never retried.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (txData_ == nullptr) throw Napi::Error::New(env, "writeBatch() before setupTx()");
    uint32_t count = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
    if (count > txEntries_) count = txEntries_;
    if (fd_ < 0) {
      txErrors_ += count;
      lastErrno_ = EBADF;
      return Napi::Number::New(env, 0);
    }
    WaitIdle();  // after what the writer thread holds, in order
    uint32_t written = 0;
    for (uint32_t i = 0; i < count; i++) {
      const uint64_t off = txTable_[2 * i];
      const uint64_t len = txTable_[2 * i + 1];
      if (off + len > txLen_) {  // a bad table entry must not read outside the buffer
        txErrors_++;
        lastErrno_ = EINVAL;
        continue;
      }
      if (WriteOne(txData_ + off, static_cast<size_t>(len))) written++;
    }
    txWritten_ += written;
    return Napi::Number::New(env, written);
  }

  // startTxThread(regions, entriesPerRegion, status: Uint32Array(4)): from now on the table and
  // buffer are `regions` equal parts, written by a thread (see the file comment). Region r's
  // entries are table[2 * (r * entriesPerRegion + i)]; their offsets are into the whole buffer.
  Napi::Value StartTxThread(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (txData_ == nullptr) throw Napi::Error::New(env, "startTxThread() before setupTx()");
    if (txThread_.joinable()) throw Napi::Error::New(env, "the writer thread already runs");
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw Napi::TypeError::New(env, "startTxThread(regions, entriesPerRegion, status: Uint32Array)");
    }
    const uint32_t regions = info[0].As<Napi::Number>().Uint32Value();
    const uint32_t entries = info[1].As<Napi::Number>().Uint32Value();
    Napi::Uint32Array status = info[2].As<Napi::Uint32Array>();
    if (regions < 2 || regions > 64 || entries < 1 || static_cast<uint64_t>(regions) * entries > txEntries_ ||
        status.ElementLength() < 4) {
      throw Napi::RangeError::New(env, "startTxThread: 2..64 regions whose entries fit the table, status of 4 entries");
    }
    statusRef_ = Napi::Persistent(static_cast<Napi::Object>(status));
    status_ = status.Data();
    regions_ = regions;
    regionEntries_ = entries;
    busy_.assign(regions, false);
    stopTx_ = false;
    txThread_ = std::thread([this] { TxLoop(); });
    return env.Undefined();
  }

  // submit(region, count): hands region's first `count` entries to the writer thread.
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!txThread_.joinable()) throw Napi::Error::New(env, "submit() without the writer thread");
    const uint32_t region = info[0].As<Napi::Number>().Uint32Value();
    uint32_t count = info[1].As<Napi::Number>().Uint32Value();
    if (region >= regions_) throw Napi::RangeError::New(env, "no such region");
    if (count > regionEntries_) count = regionEntries_;
    if (count == 0) return env.Undefined();
    {
      std::lock_guard<std::mutex> lock(txMutex_);
      if (busy_[region]) throw Napi::Error::New(env, "submit() of a region the writer thread still holds (acquire() it first)");
      busy_[region] = true;
      txQueue_.push_back({region, count});
    }
    txCv_.notify_all();
    return env.Undefined();
  }

  // acquire(region): waits until the writer thread is done with region (at once if it is).
  Napi::Value Acquire(const Napi::CallbackInfo& info) {
    const uint32_t region = info[0].As<Napi::Number>().Uint32Value();
    if (region < regions_) {
      std::unique_lock<std::mutex> lock(txMutex_);
      txCv_.wait(lock, [&] { return !busy_[region]; });
    }
    return info.Env().Undefined();
  }

  // drain(): waits until every submitted region is written.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    WaitIdle();
    return info.Env().Undefined();
  }

  // write(frame: Uint8Array): true if written; false if dropped (see txCounters).
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "write(frame: Uint8Array)");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    auto* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    if (fd_ < 0) {
      txErrors_++;
      lastErrno_ = EBADF;
      return Napi::Boolean::New(env, false);
    }
    WaitIdle();  // after what the writer thread holds, in order
    return Napi::Boolean::New(env, WriteOne(data, ta.ByteLength()));
  }

  // txCounters(): [dropped (EAGAIN/ENOBUFS: the kernel had no room), errors (anything else),
  // errno of the last failure]
  Napi::Value TxCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, 3);
    a.Set(0u, Napi::Number::New(env, static_cast<double>(txDropped_.load())));
    a.Set(1u, Napi::Number::New(env, static_cast<double>(txErrors_.load())));
    a.Set(2u, Napi::Number::New(env, lastErrno_.load()));
    return a;
  }

  Napi::Value SetOffloadJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const unsigned flags = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
    if ((flags & ~kTunFAll) != 0) throw Napi::RangeError::New(env, "unknown offload flags");
    Guard(env, [&] { SetOffload(fd_, flags, name_); });
    offloads_ = flags;
    return env.Undefined();
  }

  Napi::Value SetPersistJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const bool on = info.Length() > 0 && info[0].ToBoolean().Value();
    Guard(env, [&] { SetPersist(fd_, on, name_); });
    return env.Undefined();
  }

  // setQueueEnabled(on): TUNSETQUEUE (multi-queue devices). A disabled queue receives nothing
  // but keeps the device alive: a process can hold a device open while other threads' queues
  // carry all the traffic.
  Napi::Value SetQueueEnabledJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const bool on = info.Length() > 0 && info[0].ToBoolean().Value();
    Guard(env, [&] { SetQueueEnabled(fd_, on, name_); });
    return env.Undefined();
  }

  // close(resetOffloads?: boolean): stops polling, optionally resets the device's offloads to
  // 0 (they outlive the fd on a persistent device), closes the fd. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    resetOffloadsOnClose_ = info.Length() > 0 && info[0].ToBoolean().Value();
    Shutdown();
    return info.Env().Undefined();
  }

 public:
  // Set by OpenJs when the device was opened with offloads, so Shutdown resets them.
  void NoteOffloads(unsigned flags) {
    offloads_ = flags;
    resetOffloadsOnClose_ = true;
  }

 private:
  void RequireOpen(Napi::Env env) const {
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(env, "the TUN queue of " + name_ + " is closed");
      e.Set("code", Napi::String::New(env, "EBADF"));
      throw e;
    }
  }

  bool WriteOne(const uint8_t* data, size_t len) {
    for (;;) {
      const ssize_t n = ::write(fd_, data, len);
      if (n >= 0) return true;
      if (errno == EINTR) continue;
      lastErrno_ = errno;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        txDropped_++;
      } else {
        txErrors_++;
      }
      return false;
    }
  }

  // The writer thread: takes submitted regions in order, writes their entries, frees them.
  void TxLoop() {
    for (;;) {
      TxBatch b;
      {
        std::unique_lock<std::mutex> lock(txMutex_);
        txCv_.wait(lock, [&] { return stopTx_ || !txQueue_.empty(); });
        if (txQueue_.empty()) return;  // stopping, and everything submitted is written
        b = txQueue_.front();
      }
      const uint32_t* t = txTable_ + 2 * static_cast<size_t>(b.region) * regionEntries_;
      uint32_t written = 0;
      for (uint32_t i = 0; i < b.count; i++) {
        const uint64_t off = t[2 * i];
        const uint64_t len = t[2 * i + 1];
        if (off + len > txLen_) {
          txErrors_++;
          lastErrno_ = EINVAL;
          continue;
        }
        if (WriteOne(txData_ + off, static_cast<size_t>(len))) written++;
      }
      txWritten_ += written;
      PublishStatus();
      {
        std::lock_guard<std::mutex> lock(txMutex_);
        txQueue_.pop_front();
        busy_[b.region] = false;
      }
      txCv_.notify_all();
    }
  }

  // Counters for JavaScript to read at any time (aligned 32-bit stores: never torn).
  void PublishStatus() {
    if (status_ == nullptr) return;
    __atomic_store_n(&status_[0], static_cast<uint32_t>(txWritten_.load()), __ATOMIC_RELAXED);
    __atomic_store_n(&status_[1], static_cast<uint32_t>(txDropped_.load()), __ATOMIC_RELAXED);
    __atomic_store_n(&status_[2], static_cast<uint32_t>(txErrors_.load()), __ATOMIC_RELAXED);
    __atomic_store_n(&status_[3], static_cast<uint32_t>(lastErrno_.load()), __ATOMIC_RELAXED);
  }

  void WaitIdle() {
    if (!txThread_.joinable()) return;
    std::unique_lock<std::mutex> lock(txMutex_);
    txCv_.wait(lock, [&] { return txQueue_.empty(); });
  }

  // Writes what was submitted, then ends the writer thread. Before the fd closes.
  void StopTxThread() {
    if (!txThread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(txMutex_);
      stopTx_ = true;
    }
    txCv_.notify_all();
    txThread_.join();
  }

  void StartPoll(Napi::Env env) {
    if (polling_) return;
    const int rc = uv_poll_start(poll_, UV_READABLE, &TunQueue::OnPoll);
    if (rc != 0) throw Napi::Error::New(env, std::string("uv_poll_start: ") + uv_strerror(rc));
    polling_ = true;
    // While polling, the queue is reachable from the event loop even if JavaScript drops it:
    // keep the wrapper alive until polling stops.
    if (!selfRefHeld_) {
      Ref();
      selfRefHeld_ = true;
    }
    releasePending_ = false;
  }

  void StopPoll() {
    if (poll_ != nullptr && polling_) uv_poll_stop(poll_);
    polling_ = false;
    ReleaseSelf();
  }

  // Drops the keep-alive reference, but not while OnPoll is still running on this object.
  void ReleaseSelf() {
    if (!selfRefHeld_) return;
    if (inCallback_) {
      releasePending_ = true;
      return;
    }
    selfRefHeld_ = false;
    Unref();
  }

  void Shutdown() {
    if (fd_ < 0 && poll_ == nullptr) return;
    if (poll_ != nullptr) {
      if (polling_) uv_poll_stop(poll_);
      polling_ = false;
      // libuv frees nothing itself: the handle memory goes in the close callback, which runs
      // on a later loop iteration, when nothing refers to this object any more.
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    StopTxThread();
    if (fd_ >= 0) {
      if (resetOffloadsOnClose_ && offloads_ != 0) {
        SetOffloadQuiet(0);
      }
      ::close(fd_);
      fd_ = -1;
    }
    if (selfRefHeld_) ReleaseSelf();
  }

  void SetOffloadQuiet(unsigned flags) {
    try {
      SetOffload(fd_, flags, name_);
      offloads_ = flags;
    } catch (const SysError&) {
      // Closing goes on: the fd must be released whatever happens.
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<TunQueue*>(handle->data);
    if (self != nullptr) self->OnReadable(status);
  }

  void OnReadable(int status) {
    uint32_t n = 0;
    int err = 0;
    // libuv reports EPOLLERR as UV_EBADF (and stops the handle itself). The read below then
    // fails with the real cause, e.g. EBADFD once the device is deleted.
    {
      while (n < slotCount_) {
        const ssize_t r = ::read(fd_, rxData_ + static_cast<size_t>(n) * slotSize_, slotSize_);
        if (r > 0) {
          lengths_[n++] = static_cast<uint32_t>(r);
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // 0 or an error such as EBADFD (the device was deleted under us). The fd stays
        // readable forever then, so polling must stop.
        err = r == 0 ? EIO : errno;
        break;
      }
      if (err == 0 && n == 0 && status < 0) err = -status;
    }
    if (n == 0 && err == 0) return;

    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    inCallback_ = true;
    try {
      // MakeCallback, not Call: it opens a callback scope, so microtasks queued by the batch
      // (the transmit flush) and process.nextTick callbacks run when it returns.
      if (n > 0 && !onBatch_.IsEmpty()) onBatch_.MakeCallback(env.Global(), {Napi::Number::New(env, n)}, *asyncContext_);
      if (err != 0 && fd_ >= 0) {
        StopPoll();
        const std::string msg = "reading from " + name_ + " failed: " + ErrnoText(err) +
                                (err == EBADFD ? ". The device was deleted" : "");
        Napi::Error e = ToJsError(env, SysError{err, "read", msg});
        if (!onError_.IsEmpty()) onError_.MakeCallback(env.Global(), {e.Value()}, *asyncContext_);
      }
    } catch (const Napi::Error& e) {
      // The JavaScript side catches its receiver's exceptions, so this is a bug there: report
      // it like any uncaught exception instead of swallowing it.
      inCallback_ = false;
      if (releasePending_) ReleaseSelf();
      napi_fatal_exception(env, e.Value());
      return;
    }
    inCallback_ = false;
    if (releasePending_) {
      releasePending_ = false;
      ReleaseSelf();
    }
  }

  Napi::Env env_ = nullptr;
  int fd_ = -1;
  std::string name_;
  bool hookRegistered_ = false;

  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  bool selfRefHeld_ = false;
  bool inCallback_ = false;
  bool releasePending_ = false;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  Napi::Reference<Napi::ArrayBuffer> rxRef_;
  Napi::ObjectReference lengthsRef_;
  uint8_t* rxData_ = nullptr;
  uint32_t* lengths_ = nullptr;
  size_t slotSize_ = 0;
  uint32_t slotCount_ = 0;

  Napi::Reference<Napi::ArrayBuffer> txRef_;
  Napi::ObjectReference txTableRef_;
  uint8_t* txData_ = nullptr;
  size_t txLen_ = 0;
  uint32_t* txTable_ = nullptr;
  uint32_t txEntries_ = 0;
  std::atomic<uint64_t> txDropped_{0};
  std::atomic<uint64_t> txErrors_{0};
  std::atomic<uint64_t> txWritten_{0};
  std::atomic<int> lastErrno_{0};

  // The writer thread (startTxThread) and what it shares with the JavaScript thread.
  struct TxBatch {
    uint32_t region = 0;
    uint32_t count = 0;
  };
  std::thread txThread_;
  std::mutex txMutex_;
  std::condition_variable txCv_;
  std::deque<TxBatch> txQueue_;
  std::vector<bool> busy_;
  bool stopTx_ = false;
  uint32_t regions_ = 0;
  uint32_t regionEntries_ = 0;
  Napi::ObjectReference statusRef_;
  uint32_t* status_ = nullptr;

  unsigned offloads_ = 0;
  bool resetOffloadsOnClose_ = false;
};

namespace {

struct InstanceData {
  Napi::FunctionReference tunQueue;
};

Napi::Value MacOrNull(Napi::Env env, const std::vector<uint8_t>& mac) {
  if (mac.empty()) return env.Null();
  Napi::Uint8Array a = Napi::Uint8Array::New(env, mac.size());
  std::copy(mac.begin(), mac.end(), a.Data());
  return a;
}

// open({ name?, tap?, persist?, exclusive?, attach?, queues?, multiQueue?, vnetHdr?,
//        vnetHdrSize?, offloads?, mtu?, netns? })
//   -> { name, ifindex, mtu, mac: Uint8Array | null, flags, queues: TunQueue[] }
Napi::Value OpenJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "open(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  TunOpenOptions opts;
  opts.name = OptString(o, "name");
  {
    // An explicit empty name is a mistake, not a request for a kernel-chosen one (omit it).
    Napi::Value v = o.Get("name");
    if (v.IsString() && opts.name.empty()) Guard(env, [] { ValidateIfName("", false); });
  }
  opts.tap = OptBool(o, "tap");
  opts.persist = OptBool(o, "persist");
  opts.exclusive = OptBool(o, "exclusive");
  opts.attach = OptBool(o, "attach");
  opts.multiQueue = OptBool(o, "multiQueue");
  opts.queues = static_cast<int>(OptInt(o, "queues", 1, 1, 256));
  opts.vnetHdr = OptBool(o, "vnetHdr");
  opts.vnetHdrSize = static_cast<int>(OptInt(o, "vnetHdrSize", 10, 10, 12));
  opts.offloads = static_cast<unsigned>(OptInt(o, "offloads", 0, 0, 0xff));
  opts.mtu = static_cast<unsigned>(OptInt(o, "mtu", 0, 0, 65535));
  opts.netns = OptString(o, "netns");

  TunDevice dev = Guard(env, [&] { return OpenTun(opts); });

  auto* data = env.GetInstanceData<InstanceData>();
  Napi::Array queues = Napi::Array::New(env, dev.fds.size());
  // From here the TunQueue objects own the fds; until each is made, close the rest on error.
  size_t made = 0;
  try {
    for (; made < dev.fds.size(); made++) {
      Napi::Object q = data->tunQueue.New({Napi::Number::New(env, dev.fds[made]), Napi::String::New(env, dev.name)});
      if (made == 0 && opts.offloads != 0) TunQueue::Unwrap(q)->NoteOffloads(opts.offloads);
      queues.Set(static_cast<uint32_t>(made), q);
    }
  } catch (...) {
    for (size_t i = made; i < dev.fds.size(); i++) close(dev.fds[i]);
    throw;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", dev.name);
  out.Set("ifindex", dev.ifindex);
  out.Set("mtu", dev.mtu);
  out.Set("mac", MacOrNull(env, dev.address));
  out.Set("flags", dev.flags);
  out.Set("queues", queues);
  return out;
}

// linkInfo(name, netns?) -> { ifindex, name, mtu, flags, mac, kind } | null
Napi::Value LinkInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = ArgString(info, 0, "name");
  const std::string netns = ArgNetns(info, 1);
  auto link = Guard(env, [&] {
    NetnsScope ns(netns);
    Rtnl rtnl;
    return rtnl.GetLink(name);
  });
  if (!link) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("ifindex", link->index);
  out.Set("name", link->name);
  out.Set("mtu", link->mtu);
  out.Set("flags", link->flags);
  out.Set("mac", MacOrNull(env, link->address));
  out.Set("kind", link->kind);
  return out;
}

std::string NoSuchDevice(const std::string& name, const std::string& netns) {
  return "no such network interface: " + name + (netns.empty() ? "" : " in network namespace " + netns) + " (ENODEV)";
}

// setLink(name, { up?, mtu?, mac? }, netns?)
Napi::Value SetLinkJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = ArgString(info, 0, "name");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "setLink(name, change, netns?)");
  Napi::Object o = info[1].As<Napi::Object>();
  LinkChange change;
  Napi::Value up = o.Get("up");
  if (!up.IsUndefined() && !up.IsNull()) change.up = up.ToBoolean().Value();
  Napi::Value mtu = o.Get("mtu");
  if (!mtu.IsUndefined() && !mtu.IsNull()) change.mtu = static_cast<unsigned>(OptInt(o, "mtu", 0, 68, 65535));
  Napi::Value mac = o.Get("mac");
  if (!mac.IsUndefined() && !mac.IsNull()) {
    if (!mac.IsTypedArray() || mac.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        mac.As<Napi::Uint8Array>().ElementLength() != 6) {
      throw Napi::TypeError::New(env, "mac must be a Uint8Array of 6 bytes");
    }
    Napi::Uint8Array m = mac.As<Napi::Uint8Array>();
    change.address = std::vector<uint8_t>(m.Data(), m.Data() + 6);
  }
  const std::string netns = ArgNetns(info, 2);
  Guard(env, [&] {
    NetnsScope ns(netns);
    Rtnl rtnl;
    auto link = rtnl.GetLink(name);
    if (!link) throw SysError{ENODEV, "RTM_GETLINK", NoSuchDevice(name, netns)};
    rtnl.SetLink(link->index, name, change);
  });
  return env.Undefined();
}

// addAddress(name, family: 4 | 6, address: Uint8Array, prefixLength, netns?)
Napi::Value AddAddressJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = ArgString(info, 0, "name");
  if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
    throw Napi::TypeError::New(env, "addAddress(name, family, address, prefixLength, netns?)");
  }
  const int family = info[1].As<Napi::Number>().Int32Value() == 6 ? AF_INET6 : AF_INET;
  Napi::Uint8Array addr = info[2].As<Napi::Uint8Array>();
  const size_t alen = family == AF_INET ? 4 : 16;
  const unsigned prefix = info[3].As<Napi::Number>().Uint32Value();
  if (addr.ElementLength() != alen || prefix > alen * 8) {
    Napi::RangeError e = Napi::RangeError::New(env, "address length or prefix length does not fit the family");
    e.Set("code", Napi::String::New(env, "EINVAL"));
    throw e;
  }
  std::vector<uint8_t> bytes(addr.Data(), addr.Data() + alen);
  const std::string netns = ArgNetns(info, 4);
  Guard(env, [&] {
    NetnsScope ns(netns);
    Rtnl rtnl;
    auto link = rtnl.GetLink(name);
    if (!link) throw SysError{ENODEV, "RTM_GETLINK", NoSuchDevice(name, netns)};
    rtnl.AddAddress(link->index, name, family, bytes.data(), prefix);
  });
  return env.Undefined();
}

// deleteLink(name, netns?)
Napi::Value DeleteLinkJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = ArgString(info, 0, "name");
  const std::string netns = ArgNetns(info, 1);
  Guard(env, [&] {
    NetnsScope ns(netns);
    Rtnl rtnl;
    auto link = rtnl.GetLink(name);
    if (!link) throw SysError{ENODEV, "RTM_GETLINK", NoSuchDevice(name, netns)};
    rtnl.DelLink(link->index, name);
  });
  return env.Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  Napi::Function tunQueue = TunQueue::Define(env);
  data->tunQueue = Napi::Persistent(tunQueue);
  env.SetInstanceData<InstanceData>(data);

  exports.Set("open", Napi::Function::New(env, OpenJs, "open"));
  exports.Set("linkInfo", Napi::Function::New(env, LinkInfoJs, "linkInfo"));
  exports.Set("setLink", Napi::Function::New(env, SetLinkJs, "setLink"));
  exports.Set("addAddress", Napi::Function::New(env, AddAddressJs, "addAddress"));
  exports.Set("deleteLink", Napi::Function::New(env, DeleteLinkJs, "deleteLink"));
  exports.Set("TunQueue", tunQueue);
  Napi::Object offload = Napi::Object::New(env);
  offload.Set("CSUM", kTunFCsum);
  offload.Set("TSO4", kTunFTso4);
  offload.Set("TSO6", kTunFTso6);
  offload.Set("TSO_ECN", kTunFTsoEcn);
  offload.Set("USO4", kTunFUso4);
  offload.Set("USO6", kTunFUso6);
  exports.Set("TUN_F", offload);
  return exports;
}

}  // namespace netstack

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return netstack::Init(env, exports); }

NODE_API_MODULE(netstack_native, InitModule)
