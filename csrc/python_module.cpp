// The Python module gaitedge._C. Importing it runs the static initialisers that register the ops; besides that it
// reports which CPU instruction routes the kernels take (cpu/capability.h) and switches the CPU block cache
// (cpu/block_cache.h). Plain CPython API, so the extension needs neither pybind11 nor libtorch_python. CMake builds
// the kernels as a library without this module.
#ifdef GAITEDGE_PYTHON_MODULE
#include <Python.h>

#include <c10/util/Exception.h>

#include "cpu/block_cache.h"
#include "cpu/capability.h"

namespace {

// cpu_vector_routes() -> tuple[str, ...]: the routes beyond the x86-64 baseline, e.g. ("f16c", "avx2", "avx512").
PyObject* cpu_vector_routes(PyObject*, PyObject*) {
  const auto routes = gaitedge::cpu::vector_routes();
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(routes.size()));
  if (t == nullptr) return nullptr;
  for (size_t i = 0; i < routes.size(); ++i) {
    PyObject* s = PyUnicode_FromString(routes[i].c_str());
    if (s == nullptr) {
      Py_DECREF(t);
      return nullptr;
    }
    PyTuple_SET_ITEM(t, static_cast<Py_ssize_t>(i), s);
  }
  return t;
}

// cpu_block_cache_enable(min_block, max_cached, min_budget: int bytes); RuntimeError if it cannot be installed.
PyObject* cpu_block_cache_enable(PyObject*, PyObject* args) {
  unsigned long long min_block = 0, max_cached = 0, min_budget = 0;
  if (!PyArg_ParseTuple(args, "KKK", &min_block, &max_cached, &min_budget)) return nullptr;
  try {
    gaitedge::cpu::block_cache_enable(static_cast<std::size_t>(min_block), static_cast<std::size_t>(max_cached),
                                      static_cast<std::size_t>(min_budget));
  } catch (const c10::Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    return nullptr;
  }
  Py_RETURN_NONE;
}

// cpu_block_cache_disable(release: bool)
PyObject* cpu_block_cache_disable(PyObject*, PyObject* args) {
  int release = 1;
  if (!PyArg_ParseTuple(args, "p", &release)) return nullptr;
  gaitedge::cpu::block_cache_disable(release != 0);
  Py_RETURN_NONE;
}

PyObject* cpu_block_cache_release(PyObject*, PyObject*) {
  return PyLong_FromSize_t(gaitedge::cpu::block_cache_release());
}

PyObject* cpu_block_cache_stats(PyObject*, PyObject*) {
  const auto s = gaitedge::cpu::block_cache_stats();
  using ull = unsigned long long;
  return Py_BuildValue("{s:O,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "enabled",
                       s.enabled ? Py_True : Py_False,
                       "min_block", ull(s.min_block), "max_cached", ull(s.max_cached), "min_budget", ull(s.min_budget),
                       "live_bytes", ull(s.live_bytes),
                       "peak_live_bytes", ull(s.peak_live_bytes), "cached_bytes", ull(s.cached_bytes),
                       "cached_blocks", ull(s.cached_blocks), "peak_cached_bytes", ull(s.peak_cached_bytes), "hits",
                       ull(s.hits), "misses", ull(s.misses), "released_bytes", ull(s.released_bytes),
                       "evicted_bytes", ull(s.evicted_bytes));
}

PyMethodDef methods[] = {
    {"cpu_vector_routes", cpu_vector_routes, METH_NOARGS,
     "The CPU kernels' instruction routes beyond the x86-64 baseline in this process (ATEN_CPU_CAPABILITY decides)."},
    {"cpu_block_cache_enable", cpu_block_cache_enable, METH_VARARGS,
     "Install the CPU block cache (min_block, max_cached, min_budget bytes), or count one more user of it."},
    {"cpu_block_cache_disable", cpu_block_cache_disable, METH_VARARGS,
     "One user fewer; the last restores the previous CPU allocator and, with release, frees the cached blocks."},
    {"cpu_block_cache_release", cpu_block_cache_release, METH_NOARGS, "Free the cached blocks; returns their bytes."},
    {"cpu_block_cache_stats", cpu_block_cache_stats, METH_NOARGS, "The CPU block cache's counters, as a dict."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};

}  // namespace

extern "C" PyObject* PyInit__C(void) { return PyModule_Create(&module_def); }
#endif
