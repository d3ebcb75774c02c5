"""The native REST API under /api/v1 (shapes of the VibeGen seed, generalized to every media type)."""

from fastapi import APIRouter

from mediagate.api.rest import account, admin, events, files, generations, models, providers, tasks, uploads

router = APIRouter(prefix="/api/v1")
router.include_router(generations.router)
router.include_router(tasks.router)
router.include_router(models.router)
router.include_router(account.router)
router.include_router(admin.router)
router.include_router(uploads.router)
router.include_router(providers.router)
router.include_router(events.router)

__all__ = ["files", "router"]
