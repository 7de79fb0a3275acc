# One image for both roles: `npm run api` or `npm run worker`.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/ packages/
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY apps/ apps/
USER node
CMD ["npm", "run", "api"]
