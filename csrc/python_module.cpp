// The Python module gaitedge._C. Importing it runs the static initialisers that register the ops; besides that it
// only reports which CPU instruction routes the kernels take (cpu/capability.h). Plain CPython API, so the
// extension needs neither pybind11 nor libtorch_python. CMake builds the kernels as a library without this module.
#ifdef GAITEDGE_PYTHON_MODULE
#include <Python.h>

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

PyMethodDef methods[] = {
    {"cpu_vector_routes", cpu_vector_routes, METH_NOARGS,
     "The CPU kernels' instruction routes beyond the x86-64 baseline in this process (ATEN_CPU_CAPABILITY decides)."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};

}  // namespace

extern "C" PyObject* PyInit__C(void) { return PyModule_Create(&module_def); }
#endif
